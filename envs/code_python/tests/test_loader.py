"""The HumanEval / MBPP / EvalPlus JSONL loader, on a small file written here, and an env over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verigym.agents.runner import run_episodes
from verigym.agents.scripted import OraclePolicy
from verigym.envs.code_python import values
from verigym.envs.code_python.env import CodePythonEnv
from verigym.envs.code_python.loader import load_jsonl

HUMANEVAL = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(1, 2)\n    3\n    """\n',
    "canonical_solution": "    return a + b\n",
    "entry_point": "add",
    "test": ("def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"
             "    assert candidate(10, 5) == 15\n    assert abs(candidate(2, 2) - 4) < 1e-9\n"),
}
MBPP = {
    "task_id": 11,
    "text": "Write a function to remove the first and last occurrence of a given character from the string.",
    "code": ("def remove_Occ(s, ch):\n    for i in range(len(s)):\n        if s[i] == ch:\n            s = s[0:i] + s[i + 1:]\n"
             "            break\n    for i in range(len(s) - 1, -1, -1):\n        if s[i] == ch:\n"
             "            s = s[0:i] + s[i + 1:]\n            break\n    return s\n"),
    "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"',
                  'assert remove_Occ("PHP","P") == "H"'],
}
EVALPLUS = {
    "task_id": "HumanEval/2",
    "prompt": 'def truncate_number(number: float) -> float:\n    """Return the decimal part of a positive float."""\n',
    "canonical_solution": "    return number % 1.0\n",
    "entry_point": "truncate_number",
    "base_input": [[3.5], [1.25], [123.0]],
    "plus_input": [[0.5], [7.75]],
    "atol": 0,
}
BROKEN = {"task_id": "broken/1", "prompt": "def f(:\n", "canonical_solution": "", "entry_point": "f", "test": ""}


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "mini.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (HUMANEVAL, MBPP, EVALPLUS, BROKEN)) + "\n\n")
    return path


def test_loads_each_style_and_reports_what_it_skipped(jsonl: Path) -> None:
    report = load_jsonl(jsonl)
    by_id = {t.task_id: t for t in report.tasks}
    assert set(by_id) == {"HumanEval/0", "11", "HumanEval/2"}
    assert len(report.skipped_records) == 1 and report.skipped_records[0].startswith("broken/1")
    assert report.skipped_asserts == 1  # the abs(...) < tol assert

    add = by_id["HumanEval/0"]
    assert add.entry == "add" and add.signature == "def add(a: int, b: int) -> int"
    assert add.spec.startswith("Return the sum") and add.numeric_ok
    assert [values.loads(t.args) for t in add.visible + add.hidden] == [[1, 2], [-1, 1], [10, 5]]
    assert [values.loads(t.expected) for t in add.hidden] == [0, 15]

    mbpp = by_id["11"]
    assert mbpp.entry == "remove_Occ" and mbpp.spec == MBPP["text"] and len(mbpp.hidden) == 2

    plus = by_id["HumanEval/2"]
    assert [values.loads(t.expected) for t in plus.visible + plus.hidden] == [0.5, 0.25, 0.0, 0.5, 0.75]


@pytest.mark.timeout(120)
def test_env_over_a_dataset_oracle_scores_full_marks(jsonl: Path, local_providers) -> None:
    env = CodePythonEnv(dataset=str(jsonl))
    assert len(env.dataset) == 3 and env.generate_task(4).task_id == env.dataset[1].task_id
    _, summary = run_episodes("code-python-v0", OraclePolicy(), n=3, seed=0, concurrency=1, progress=False,
                              sandbox=local_providers, env_kwargs={"dataset": str(jsonl)})
    assert summary.dropped == {} and summary.components["correct"] == 1.0


def test_a_dataset_without_usable_records_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(json.dumps(BROKEN) + "\n")
    with pytest.raises(ValueError, match="no usable task"):
        CodePythonEnv(dataset=str(path))
