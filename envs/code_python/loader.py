"""Load HumanEval-, MBPP- and EvalPlus-style JSONL files into `CodeTask`s.

Recognised records (one JSON object per line):
- HumanEval: `task_id, prompt, canonical_solution, entry_point, test` (a `check(candidate)` of asserts);
- MBPP: `task_id, text, code, test_list` (asserts calling the function by name);
- EvalPlus: HumanEval fields plus `base_input` / `plus_input` (argument lists without expected values).

Tests are read from asserts of the form `assert f(<literals>) == <literal>` (others are skipped, and counted);
inputs without a literal expected value get one from the record's own reference solution, run in this process
(the dataset's reference is trusted like our templates' references). The first `n_visible` tests are shown
to the agent, the rest are hidden. Int and float results compare numerically (as `==` did in the original).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verigym.envs.code_python import values
from verigym.envs.code_python.generator import load_function
from verigym.envs.code_python.task import CodeTask, TestCase


@dataclass(frozen=True)
class LoadReport:
    """What the loader kept and skipped."""

    tasks: tuple[CodeTask, ...]
    skipped_records: tuple[str, ...]  # "<task_id>: why"
    skipped_asserts: int


def load_jsonl(path: str | Path, n_visible: int = 1) -> LoadReport:
    """Every usable record of `path` as a task (records with fewer than n_visible + 1 tests are skipped)."""
    path = Path(path)
    tasks: list[CodeTask] = []
    skipped: list[str] = []
    skipped_asserts = 0
    for number, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            task, dropped = _task(record, number, path.stem, n_visible)
        except (ValueError, KeyError, SyntaxError, TypeError) as exc:
            ident = record.get("task_id", number) if isinstance(locals().get("record"), dict) else number
            skipped.append(f"{ident}: {type(exc).__name__}: {exc}"[:300])
            continue
        skipped_asserts += dropped
        tasks.append(task)
    return LoadReport(tuple(tasks), tuple(skipped), skipped_asserts)


def _task(record: dict[str, Any], number: int, source: str, n_visible: int) -> tuple[CodeTask, int]:
    if "code" in record and "test_list" in record:  # MBPP
        reference, spec = record["code"], record["text"]
        tests, dropped = _asserts("\n".join(record["test_list"]), None)
        entry = _entry_from_tests(record["test_list"])
    else:  # HumanEval / EvalPlus
        reference = record["prompt"] + record["canonical_solution"]
        entry = record["entry_point"]
        spec = (ast.get_docstring(_function(ast.parse(reference), entry)) or "").strip() or record["prompt"]
        tests, dropped = _asserts(record.get("test", ""), "candidate")
        for key in ("base_input", "plus_input"):
            tests += [(list(args), None) for args in record.get(key) or []]
    function = _function(ast.parse(reference), entry)
    signature = ast.unparse(function).split(":\n", 1)[0].strip()
    fn = load_function(reference, entry)
    cases: list[TestCase] = []
    seen: set[str] = set()
    for args, expected in tests:
        wire = values.dumps(list(args))
        if wire in seen:
            continue
        seen.add(wire)
        if expected is None:
            expected = fn(*args)
        cases.append(TestCase(wire, values.dumps(expected)))
    if len(cases) <= n_visible:
        raise ValueError(f"only {len(cases)} usable tests")
    task_id = str(record.get("task_id", f"{source}/{number}"))
    return CodeTask(
        task_id=task_id, seed=number, template=f"jsonl:{source}", difficulty="external", entry=entry,
        signature=signature, spec=spec, reference=reference, visible=tuple(cases[:n_visible]),
        hidden=tuple(cases[n_visible:]), numeric_ok=True,
    ), dropped


def _function(tree: ast.Module, entry: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            return node
    raise ValueError(f"the reference defines no top-level function {entry!r}")


def _entry_from_tests(test_list: list[str]) -> str:
    for text in test_list:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                return node.func.id
    raise ValueError("no function call in test_list")


def _asserts(source: str, caller: str | None) -> tuple[list[tuple[list[Any], Any]], int]:
    """(args, expected) from `assert NAME(<literals>) == <literal>`; the number of asserts skipped."""
    found: list[tuple[list[Any], Any]] = []
    dropped = 0
    if not source.strip():
        return found, 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert):
            continue
        test = node.test
        try:
            if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
                raise ValueError("not an equality")
            call, other = test.left, test.comparators[0]
            if not isinstance(call, ast.Call):
                call, other = other, call
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.keywords):
                raise ValueError("not a call")
            if caller is not None and call.func.id != caller:
                raise ValueError("calls something else")
            args = [ast.literal_eval(a) for a in call.args]
            expected = ast.literal_eval(other)
            values.encode(args)
            values.encode(expected)
        except (ValueError, TypeError, SyntaxError, values.WireError):
            dropped += 1
            continue
        found.append((args, expected))
    return found, dropped
