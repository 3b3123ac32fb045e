"""The knowledge base: the shipped files are valid and broad, and the validator catches each kind of error."""

import copy
import shutil
from pathlib import Path

import pytest

from verigym.envs.diagnosis.knowledge import (
    DATA_DIR,
    FILES,
    KnowledgeBaseError,
    load_knowledge_base,
    normalise_code,
    read_raw,
)
from verigym.envs.diagnosis.validate import main, validate


def test_shipped_base_is_valid_broad_and_says_not_for_clinical_use(kb):
    assert validate(read_raw()) == []
    assert len(kb.conditions) >= 40
    assert len({c.system for c in kb.conditions.values()}) >= 8
    assert {e.kind for e in kb.exams.values()} >= {"lab", "imaging", "ecg", "physical", "vital"}
    assert "not for clinical use" in kb.notice.lower()
    for name in FILES:
        header = (DATA_DIR / name).read_text().split("\n[", 1)[0]
        assert "NOT FOR CLINICAL USE" in header and "TRAINING" in header


def test_every_exam_has_a_result_distribution_for_every_condition(kb):
    for condition in kb.conditions.values():
        for exam in kb.exams.values():
            dist = kb.exam_distribution(condition, exam.id)
            assert list(dist) == list(exam.categories)
            assert all(0.0 <= p <= 1.0 for p in dist.values())
            assert sum(dist.values()) == pytest.approx(1.0)
        assert set(condition.key_exams) <= set(kb.exams)


def test_codes_names_and_synonyms_resolve_uniquely(kb):
    assert len(kb.by_code) == len(kb.conditions)
    for condition in kb.conditions.values():
        assert kb.resolve(condition.code) == condition.code
        assert kb.resolve(condition.code.lower()) == condition.code
        assert kb.resolve(condition.code.replace(".", "")) == condition.code
        for alias in (condition.name, *condition.synonyms):
            assert kb.resolve(f"  {alias.upper()} ") == condition.code
    assert normalise_code("i21.3") == "I21.3" and normalise_code("I213") == "I21.3"
    assert normalise_code("I21.3, J18.9") is None and normalise_code("21.3") is None


def _problems(mutate):
    raw = copy.deepcopy(read_raw())
    mutate(raw)
    return validate(raw)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["conditions"]["stemi"]["findings"].update(chest_pain=1.2), "P(chest_pain) = 1.2 is not a probability"),
        (lambda r: r["findings"]["fever"].update(base=-0.1), "finding fever: base -0.1 is not a probability"),
        (lambda r: r["conditions"]["nstemi"].update(code="I21.3"), "code I21.3 is also the code of stemi"),
        (lambda r: r["conditions"]["nstemi"].update(code="I21.4X!"), "is not a canonical ICD-10 code"),
        (lambda r: r["conditions"]["nstemi"]["synonyms"].append("stemi"), "name 'stemi' is also a name of stemi"),
        (lambda r: r["exams"]["ecg"].update(default={"normal": 0.5}), "exam ecg default: probabilities sum to 0.5, not 1"),
        (lambda r: r["exams"]["ecg"].pop("default"), "exam ecg default: must be a table"),
        (lambda r: r["conditions"]["stemi"]["exams"].update(ecg={"st_elevation": 0.9, "normal": 0.3}), "probabilities sum to 1.2"),
        (lambda r: r["conditions"]["stemi"]["exams"].update(ecg={"tombstones": 0.9}), "unknown result category 'tombstones'"),
        (lambda r: r["exams"]["troponin"]["results"].update(mild=[10, 60]), "result ranges normal and mild overlap"),
        (lambda r: r["conditions"]["stemi"]["findings"].update(hiccups=0.3), "unknown finding 'hiccups'"),
        (lambda r: r["conditions"]["stemi"].update(key_exams=["telepathy"]), "unknown key exam 'telepathy'"),
        (lambda r: r["conditions"]["migraine"]["findings"].update(headache=0.1), "migraine: needs a complaint item"),
        (lambda r: r["conditions"]["gout"]["prevalence"].pop("child"), "gout: prevalence needs a weight"),
        (lambda r: r["meta"].update(notice="for agents"), "notice must say the base is not for clinical use"),
    ],
)
def test_validator_reports_each_problem(mutate, message):
    problems = _problems(mutate)
    assert any(message in p for p in problems), problems


def test_loading_a_broken_folder_raises_with_every_problem(tmp_path: Path, capsys):
    for name in FILES:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    text = (tmp_path / "conditions.toml").read_text().replace('code = "I21.4"', 'code = "I21.3"')
    (tmp_path / "conditions.toml").write_text(text)
    with pytest.raises(KnowledgeBaseError, match="code I21.3 is also the code of stemi"):
        load_knowledge_base(str(tmp_path))
    assert main([str(tmp_path)]) == 1 and "also the code" in capsys.readouterr().err
    (tmp_path / "conditions.toml").unlink()
    with pytest.raises(KnowledgeBaseError, match="is missing"):
        load_knowledge_base(str(tmp_path))
    assert main([]) == 0
