"""The Bayesian oracle: its posterior is exact (matches a direct computation and is calibrated), and it
beats the diagnose-at-once and random baselines through the real episode runner."""

import numpy as np
import pytest

from verigym.agents.runner import run_episodes
from verigym.agents.scripted import OraclePolicy, RandomPolicy
from verigym.envs.diagnosis.benchmark import direct_posterior
from verigym.envs.diagnosis.oracle import posterior_model
from verigym.envs.diagnosis.patients import exam_result, finding_present


def test_posterior_matches_bayes_rule_written_out(kb, patients):
    model = posterior_model(kb)
    for task in patients[:40]:
        condition = kb.by_code[task.condition]
        answers = {f: finding_present(kb, task.patient, condition, task.sex, f) for f in list(kb.findings)[30:40]}
        results = {e: exam_result(kb, task.patient, condition, e).category for e in list(kb.exams)[::7]}
        np.testing.assert_allclose(model.posterior(task, answers, results), direct_posterior(kb, task, answers, results), rtol=1e-9, atol=1e-12)


def test_posterior_from_the_opening_note_is_calibrated(kb, patients):
    model = posterior_model(kb)
    confidence, hits = [], []
    for task in patients:
        post = model.posterior(task, {}, {})
        confidence.append(post.max())
        hits.append(model.codes[int(post.argmax())] == task.condition)
    assert abs(np.mean(confidence) - np.mean(hits)) < 0.04


def test_information_gain_is_never_negative_and_zero_for_known_items(kb, patients):
    model = posterior_model(kb)
    post = model.posterior(patients[0], {}, {})
    assert (model.finding_gains(post, "female") >= -1e-12).all() and (model.exam_gains(post) >= -1e-12).all()
    certain = np.zeros_like(post)
    certain[3] = 1.0
    assert np.allclose(model.exam_gains(certain), 0.0) and np.allclose(model.finding_gains(certain, "male"), 0.0)


@pytest.mark.timeout(60)
def test_oracle_clearly_beats_immediate_and_random():
    def run(policy, **settings):
        _, summary = run_episodes("diagnosis-v0", policy, n=200, seed=0, concurrency=2, progress=False, env_kwargs=settings)
        assert summary.scored == 200 and summary.errored == 0 and summary.dropped_verifier == 0
        return summary

    oracle, immediate, rand = run(OraclePolicy()), run(OraclePolicy(), oracle_strategy="immediate"), run(RandomPolicy())
    assert oracle.components["correct"] >= 0.75 and oracle.components["correct"] > immediate.components["correct"] + 0.3
    assert rand.components["correct"] <= 0.1
    assert oracle.components["exam_f1"] > rand.components["exam_f1"] > immediate.components["exam_f1"] == 0.0
    assert oracle.components["cost"] < rand.components["cost"]
    assert oracle.mean_reward > immediate.mean_reward + 0.3 > rand.mean_reward + 0.3
    assert immediate.mean_turns == 1.0
