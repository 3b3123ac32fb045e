"""The verifier: each component's value, bounds, and strict reading of the `diagnose` arguments."""

import pytest

from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.envs.diagnosis.verifier import COMPONENTS, WEIGHTS, verify
from verigym.envs.rubric import Rubric
from verigym.envs.verdict import VerifierError

PE = DiagnosisTask("pe", 0, "p.0", "I26.99", 50, "female", "shortness_of_breath")


def test_gold_diagnosis_scores_full_marks(kb):
    verdict = verify(PE, {"primary": "I26.99"}, ["d_dimer", "ct_pulmonary_angiogram"], kb)
    assert verdict.passed
    assert verdict.components == {"correct": 1.0, "top_k": 1.0, "exam_f1": 1.0, "cost": 0.5}  # (2 + 1) + (10 + 2) of 30
    reward, _ = Rubric.from_verdict(WEIGHTS).score(verdict)
    assert reward == pytest.approx(1.0 + 0.2 + 0.2 - 0.4 * 0.5)


@pytest.mark.parametrize("primary", ["I26.99", "i26.99", "I2699", " pulmonary embolism ", "PE", "Pulmonary Thromboembolism"])
def test_accepted_spellings_of_the_true_code(kb, primary):
    assert verify(PE, {"primary": primary}, [], kb).components["correct"] == 1.0


def test_top_k_is_dense_and_bounded(kb):
    def top_k(primary, differential):
        return verify(PE, {"primary": primary, "differential": differential}, [], kb).components["top_k"]

    assert top_k("J18.9", ["I26.99"]) == pytest.approx(0.8)
    assert top_k("J18.9", ["I21.3", "I21.4", "I20.0", "I26.99"]) == pytest.approx(0.2)
    assert top_k("J18.9", ["I21.3"]) == 0.0
    assert verify(PE, {"primary": "J18.9", "differential": ["I26.99"]}, [], kb).components["correct"] == 0.0


def test_exam_f1_and_cost_are_in_range(kb):
    def components(ordered):
        return verify(PE, {"primary": "I26.99"}, ordered, kb).components

    assert components([])["exam_f1"] == 0.0 and components([])["cost"] == 0.0
    half = components(["d_dimer", "ecg"])
    assert half["exam_f1"] == pytest.approx(0.5) and half["cost"] == pytest.approx(4 / 30)
    assert components(["d_dimer", "d_dimer"])["cost"] == pytest.approx(3 / 30)  # each exam charged once
    everything = components(list(kb.exams))
    assert everything["cost"] == 1.0 and 0.0 < everything["exam_f1"] < 0.1
    assert set(everything) == set(COMPONENTS)


def test_weights_are_documented_and_cost_is_a_penalty():
    assert WEIGHTS == {"correct": 1.0, "top_k": 0.2, "exam_f1": 0.2, "cost": -0.4}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"primary": ["I26.99", "J18.9"]}, "ONE diagnosis code"),
        ({"primary": "I26.99", "differential": "J18.9"}, "must be a list"),
        ({"primary": "I26.99", "differential": ["J18.9", "J18.9"]}, "repeats J18.9"),
        ({"primary": "I26.99", "differential": ["I26.99"]}, "repeats I26.99"),
        ({"primary": "I26.99", "differential": ["J18.9", "J20.9", "J11.1", "U07.1", "A15.0"]}, "at most 4"),
        ({"primary": "I26.99", "confidence": 1.0}, "unknown argument(s) ['confidence']"),
        ({}, "ONE diagnosis code"),
        ({"primary": 26.99}, "ONE diagnosis code"),
    ],
)
def test_malformed_diagnoses_score_zero_and_say_why(kb, arguments, message):
    verdict = verify(PE, arguments, [], kb)
    assert not verdict.passed and message in verdict.details["malformed"]
    assert verdict.components == dict.fromkeys(COMPONENTS, 0.0)


def test_a_task_outside_the_base_is_a_verifier_error(kb):
    alien = DiagnosisTask("x", 0, "p.0", "Z99.9", 50, "female", "fever")
    with pytest.raises(VerifierError, match="not in the knowledge base"):
        verify(alien, {"primary": "I26.99"}, [], kb)
    with pytest.raises(VerifierError, match="not in the knowledge base"):
        verify(PE, {"primary": "I26.99"}, ["telepathy"], kb)
