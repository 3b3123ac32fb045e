"""Best-of-N re-ranking: the agreement scorer, the report, and `verigym sql best-of-n`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verigym.cli import main
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.mutants import mutants
from verigym.envs.sql.ranking import ExecutionAgreementScorer, Scorer, best_of_n, rerank


def _task_with_mutant(seed: int):
    task = generate_task(seed)
    from verigym.envs.sql.verifier import verify

    wrong = next(sql for _, sql in mutants(task.gold_sql) if not verify(task, sql).passed)
    return task, wrong


def test_agreement_scorer_votes_by_result_and_zeroes_errors() -> None:
    task, wrong = _task_with_mutant(3)
    scorer = ExecutionAgreementScorer()
    assert isinstance(scorer, Scorer)
    scores = scorer.score(task, [wrong, task.gold_sql, f"```sql\n{task.gold_sql}\n```", "SELECT nope FROM nowhere"])
    assert scores[3] == 0.0
    assert scores[1] == scores[2] >= 0.5
    assert rerank(task, [wrong, task.gold_sql, task.gold_sql], scorer) == 1


def test_best_of_n_reports_first_reranked_and_oracle() -> None:
    items = []
    for seed in range(6):
        task, wrong = _task_with_mutant(seed)
        if seed < 3:
            items.append((task, [wrong, task.gold_sql, task.gold_sql]))  # first wrong, majority right
        else:
            items.append((task, [wrong, "SELECT 1 WHERE 0"]))  # nothing right
    report = best_of_n(items, ExecutionAgreementScorer())
    assert (report.tasks, report.first, report.reranked, report.oracle) == (6, 0.0, 0.5, 0.5)
    assert "accuracy oracle-best" in report.table()


def test_cli_best_of_n_from_jsonl_and_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task, wrong = _task_with_mutant(1)
    rows = [{"task": task.to_dict(), "candidates": [task.gold_sql, wrong]},
            {"seed": 2, "candidates": ["SELECT 1"]}]
    jsonl = tmp_path / "cands.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["sql", "best-of-n", "--candidates", str(jsonl), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["tasks"], report["first"], report["oracle"]) == (2, 0.5, 0.5)
    parquet = tmp_path / "cands.parquet"
    pq.write_table(pa.Table.from_pylist([{"task_json": task.to_json(), "candidates": [wrong, task.gold_sql, task.gold_sql]}]), parquet)
    assert main(["sql", "best-of-n", "--candidates", str(parquet), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["first"], report["reranked"], report["oracle"]) == (0.0, 1.0, 1.0)


def test_cli_best_of_n_with_a_registered_policy_and_episode_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "best-of-n", "--agent", "oracle", "-n", "3", "-k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reranked"] == 1.0
    assert main(["sql", "best-of-n", "--agent", "random", "-n", "3", "-k", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["oracle"] < 1.0
    out = tmp_path / "episodes.parquet"
    assert main(["run", "sql-v0", "--agent", "oracle", "-n", "3", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sql", "best-of-n", "--candidates", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["tasks"], report["first"]) == (3, 1.0)
    assert main(["sql", "best-of-n"]) == 1
