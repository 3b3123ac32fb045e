"""Re-ranking N candidate queries: the hook for an outcome reward model (GradeSQL-style).

A `Scorer` rates candidates for one task without seeing the hidden databases; `rerank` picks the
best-rated one. The baseline `ExecutionAgreementScorer` is self-consistency: candidates whose results on the
visible database agree with many others score high. `best_of_n` measures first-candidate, re-ranked and
oracle (any candidate correct) accuracy with the real verifier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from verigym.envs.sql.compare import canonical
from verigym.envs.sql.safety import QueryLimits, execute
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import task_databases, verify
from verigym.envs.verdict import VerifierError


@runtime_checkable
class Scorer(Protocol):
    """Rates each candidate SQL for a task (higher is better); may use only the visible database."""

    name: str

    def score(self, task: SqlTask, candidates: Sequence[str]) -> list[float]:
        """One score per candidate, in order."""
        ...


class ExecutionAgreementScorer:
    """Majority vote over result sets: a candidate's score is the share of candidates with the same result.

    Results are compared on the visible database only, as row multisets with each row's values sorted (so
    column order does not split a vote). Candidates that fail to run score 0.
    """

    name = "execution-agreement"

    def __init__(self, limits: QueryLimits = QueryLimits()) -> None:
        self.limits = limits

    def score(self, task: SqlTask, candidates: Sequence[str]) -> list[float]:
        visible = task_databases(task)[0]
        keys = []
        for sql in candidates:
            result = execute(visible, sql, task.dialect, self.limits)
            keys.append(_result_key(result.rows, len(result.columns)) if result.ok else None)
        votes = Counter(k for k in keys if k is not None)
        n = max(len(candidates), 1)
        return [votes[k] / n if k is not None else 0.0 for k in keys]


def _result_key(rows: tuple[tuple, ...], width: int) -> tuple:
    return (width, tuple(sorted(repr(tuple(sorted(map(repr, row)))) for row in canonical(rows))))


def rerank(task: SqlTask, candidates: Sequence[str], scorer: Scorer) -> int:
    """Index of the best-scored candidate (the earliest among ties)."""
    if not candidates:
        raise ValueError(f"task {task.task_id}: no candidates to rank")
    scores = scorer.score(task, candidates)
    if len(scores) != len(candidates):
        raise ValueError(f"scorer {scorer.name!r} returned {len(scores)} scores for {len(candidates)} candidates")
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


@dataclass(frozen=True)
class BestOfNReport:
    """Accuracy over tasks of the first candidate, the scorer's pick, and the best candidate (oracle)."""

    scorer: str
    tasks: int
    mean_candidates: float
    first: float
    reranked: float
    oracle: float
    dropped: int

    def table(self) -> str:
        rows = [("scorer", self.scorer), ("tasks", str(self.tasks)), ("candidates per task", f"{self.mean_candidates:.1f}"),
                ("accuracy first", f"{self.first:.3f}"), ("accuracy reranked", f"{self.reranked:.3f}"),
                ("accuracy oracle-best", f"{self.oracle:.3f}"), ("dropped (verifier error)", str(self.dropped))]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def best_of_n(items: Iterable[tuple[SqlTask, Sequence[str]]], scorer: Scorer, limits: QueryLimits = QueryLimits()) -> BestOfNReport:
    """Verify every candidate of every task and report first / re-ranked / oracle accuracy."""
    first = picked = oracle = tasks = dropped = total = 0
    for task, candidates in items:
        if not candidates:
            raise ValueError(f"task {task.task_id}: no candidates")
        try:
            correct = [verify(task, sql, limits).passed for sql in candidates]
        except VerifierError:
            dropped += 1
            continue
        tasks += 1
        total += len(candidates)
        first += correct[0]
        picked += correct[rerank(task, candidates, scorer)]
        oracle += any(correct)
    n = max(tasks, 1)
    return BestOfNReport(scorer.name, tasks, total / n, first / n, picked / n, oracle / n, dropped)
