"""The DDXPlus loader, on a few rows written here in the release format, and the env playing them."""

import json
import zipfile

import pytest

from verigym.envs.actions import format_tool_call
from verigym.envs.diagnosis.ddxplus import DdxPlusError, load_ddxplus
from verigym.envs.diagnosis.env import DiagnosisEnv
from verigym.envs.diagnosis.task import DiagnosisTask

CONDITIONS = {
    "Pneumonie": {"condition_name": "Pneumonie", "cond-name-fr": "Pneumonie", "cond-name-eng": "Pneumonia",
                  "icd10-id": "j17, j18", "symptoms": {"E_91": {}, "E_77": {}}, "antecedents": {}, "severity": 3},
    "Bronchite": {"condition_name": "Bronchite", "cond-name-fr": "Bronchite", "cond-name-eng": "Bronchitis",
                  "icd10-id": "J40", "symptoms": {"E_77": {}, "E_55": {}}, "antecedents": {"E_204": {}}, "severity": 4},
    "Anémie": {"condition_name": "Anémie", "cond-name-fr": "Anémie", "cond-name-eng": "Anemia",
               "icd10-id": "D64.9", "symptoms": {"E_76": {}}, "antecedents": {}, "severity": 5},
}
EVIDENCES = {
    "E_91": {"name": "E_91", "code_question": "E_91", "question_fr": "Avez-vous de la fièvre?",
             "question_en": "Do you have a fever (either felt or measured with a thermometer)?", "is_antecedent": False,
             "default_value": 0, "value_meaning": {}, "possible-values": [], "data_type": "B"},
    "E_77": {"name": "E_77", "code_question": "E_77", "question_fr": "Toussez-vous?", "question_en": "Do you have a cough?",
             "is_antecedent": False, "default_value": 0, "value_meaning": {}, "possible-values": [], "data_type": "B"},
    "E_76": {"name": "E_76", "code_question": "E_76", "question_fr": "Êtes-vous fatigué?", "question_en": "Do you feel tired?",
             "is_antecedent": False, "default_value": 0, "value_meaning": {}, "possible-values": [], "data_type": "B"},
    "E_204": {"name": "E_204", "code_question": "E_204", "question_fr": "Fumez-vous?", "question_en": "Do you smoke cigarettes?",
              "is_antecedent": True, "default_value": 0, "value_meaning": {}, "possible-values": [], "data_type": "B"},
    "E_55": {"name": "E_55", "code_question": "E_55", "question_fr": "Où est la douleur?", "question_en": "Where is the pain located?",
             "is_antecedent": False, "default_value": "V_123", "data_type": "M", "possible-values": ["V_123", "V_29", "V_101"],
             "value_meaning": {"V_123": {"fr": "nulle part", "en": "nowhere"}, "V_29": {"fr": "thorax", "en": "chest"},
                               "V_101": {"fr": "dos", "en": "back"}}},
    "E_56": {"name": "E_56", "code_question": "E_56", "question_fr": "Intensité?", "question_en": "How intense is the pain?",
             "is_antecedent": False, "default_value": 0, "data_type": "C", "possible-values": list(range(11)), "value_meaning": {}},
}
HEADER = "AGE,DIFFERENTIAL_DIAGNOSIS,SEX,PATHOLOGY,EVIDENCES,INITIAL_EVIDENCE"
ROWS = [
    '''54,"[['Pneumonie', 0.6], ['Bronchite', 0.4]]",M,Pneumonie,"['E_91', 'E_77', 'E_55_@_V_29', 'E_56_@_7']",E_91''',
    '''31,"[['Bronchite', 0.7], ['Pneumonie', 0.3]]",F,Bronchite,"['E_77', 'E_204', 'E_55_@_V_29', 'E_55_@_V_101']",E_77''',
    '''8,"[['Anémie', 1.0]]",F,Anémie,"['E_76']",E_76''',
    '''77,"[['Pneumonie', 0.9]]",F,Pneumonia,"['E_91', 'E_77']",E_77''',  # English name instead of the key
]


def _release(folder, rows=ROWS, name="release_test_patients"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "release_conditions.json").write_text(json.dumps(CONDITIONS, ensure_ascii=False), encoding="utf-8")
    (folder / "release_evidences.json").write_text(json.dumps(EVIDENCES, ensure_ascii=False), encoding="utf-8")
    (folder / name).write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


def test_loader_maps_evidences_to_answers_and_pathology_to_code(tmp_path):
    ddx = load_ddxplus(str(_release(tmp_path / "r")))
    assert len(ddx.patients) == 4 and ddx.conditions["Pneumonie"].codes == ("J17", "J18")
    first, second, third = ddx.patients[:3]
    assert (first.age, first.sex, first.initial) == (54, "male", "E_91")
    assert ddx.answer_code(first) == "J17" and ddx.answer_code(second) == "J40" and ddx.answer_code(third) == "D64.9"
    answers = ddx.answers(first)
    assert answers == {"E_91": "yes", "E_77": "yes", "E_76": "no", "E_204": "no", "E_55": "chest", "E_56": "7"}
    assert ddx.answers(second)["E_55"] == "chest; back" and ddx.answers(second)["E_56"] == "0"
    assert ddx.answers(third)["E_55"] == "nowhere"
    assert ddx.patients[3].pathology == "Pneumonie" and ddx.answer_code(ddx.patients[3]) == "J17"
    task = ddx.task(0)
    assert task.condition == "J17" and task.source == "ddxplus" and dict(task.recorded) == answers
    assert DiagnosisTask.from_json(task.to_json()) == task
    assert task.opening == 'Asked "Do you have a fever (either felt or measured with a thermometer)?", the patient answers: yes.'
    assert ddx.task(4).task_id == task.task_id and ddx.task(4).recorded == task.recorded  # seeds wrap around


def test_env_plays_ddxplus_rows(tmp_path):
    env = DiagnosisEnv(ddxplus_dir=str(_release(tmp_path / "r")))
    obs, info = env.reset(seed=1)
    assert info["task_id"] == "ddxplus-1"
    assert obs[1]["content"] == 'A 31-year-old woman presents. Asked "Do you have a cough?", the patient answers: yes.'
    assert "- E_55: Where is the pain located?" in obs[0]["content"] and "- J40: Bronchitis" in obs[0]["content"]
    assert env.step(format_tool_call("ask", {"item": "E_55"}))[0][0]["content"] == "E_55: chest; back"
    assert env.step(format_tool_call("ask", {"item": "E_91"}))[0][0]["content"] == "E_91: no"
    obs, _, _, _, info = env.step(format_tool_call("order", {"exam": "chest_xray"}))
    assert "no examinations" in info["malformed"]
    _, reward, terminated, _, info = env.step(format_tool_call("diagnose", {"primary": "bronchitis"}))
    assert terminated and info["reward_components"] == {"correct": 1.0, "top_k": 1.0, "exam_f1": 1.0, "cost": 0.0}


def test_oracle_and_random_run_on_ddxplus_rows(tmp_path):
    env = DiagnosisEnv(ddxplus_dir=str(_release(tmp_path / "r")), max_turns=6)
    import random

    for seed in range(4):
        for policy in ("oracle", "random"):
            env.reset(seed=seed)
            rng = random.Random(seed)
            while True:
                action = env.oracle_action() if policy == "oracle" else env.sample_action(rng)
                _, _, terminated, truncated, info = env.step(action)
                assert info["malformed"] is None, action
                if terminated or truncated:
                    break
            assert terminated or policy == "random"


def test_zip_and_limit_and_errors(tmp_path):
    folder = _release(tmp_path / "z", name="unused")
    with zipfile.ZipFile(folder / "release_validate_patients.zip", "w") as archive:
        archive.writestr("release_validate_patients", "\n".join([HEADER, *ROWS]) + "\n")
    ddx = load_ddxplus(str(folder), "release_validate_patients", 2)
    assert len(ddx.patients) == 2
    with pytest.raises(DdxPlusError, match="no patient file nothing"):
        load_ddxplus(str(folder), "nothing")
    bad = _release(tmp_path / "bad", rows=['''40,"[]",M,Grippe,"['E_91']",E_91'''])
    with pytest.raises(DdxPlusError, match="pathology 'Grippe' is not in"):
        load_ddxplus(str(bad))
    bad = _release(tmp_path / "bad2", rows=['''40,"[]",M,Pneumonie,"['E_999']",E_91'''])
    with pytest.raises(DdxPlusError, match=r"unknown evidences \['E_999'\]"):
        load_ddxplus(str(bad))
    with pytest.raises(DdxPlusError, match="release_evidences.json is missing; put the DDXPlus release files in"):
        load_ddxplus(str(tmp_path / "empty"))
