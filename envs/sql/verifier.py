"""Execution-based, test-suite verification of a submitted query.

The gold and submitted queries run on the task's visible database and on each hidden variant; the answer
scores `exec_match` = 1 only if its result equals gold's on every one (see `compare`), with one column
order used throughout. `exec_fraction` is the share of databases matched (a dense signal), `valid_sql`
whether the answer is one read-only query that ran without error on the visible database. A task whose gold
query fails, or returns no rows on every database, cannot tell answers apart: that raises `VerifierError`.
"""

from __future__ import annotations

import functools

from verigym.envs.sql import database
from verigym.envs.sql.compare import Permutations, is_ordered, matching_permutations
from verigym.envs.sql.safety import InvalidQuery, QueryLimits, QueryResult, connect_readonly, prepare_query, run_query
from verigym.envs.sql.task import SqlTask
from verigym.envs.verdict import Verdict, VerifierError

GOLD_LIMITS = QueryLimits(time_s=5.0, max_rows=100_000, max_sql_chars=100_000)
COMPONENTS = ("exec_match", "exec_fraction", "valid_sql")


@functools.lru_cache(maxsize=4096)
def task_databases(task: SqlTask) -> tuple[bytes, ...]:
    """The visible database, then every hidden variant, as serialized SQLite bytes (cached per task)."""
    if task.db_path:
        return (database.file_database(task.db_path),) + tuple(database.perturbed_database(task.db_path, s) for s in task.variant_seeds)
    visible = database.visible_database(task.domain, task.seed)
    return (visible,) + tuple(database.variant_database(task.domain, s, task.gold_sql) for s in task.variant_seeds)


def run_on(data: bytes, sql: str, limits: QueryLimits) -> QueryResult:
    """Run an already-prepared query on a fresh read-only copy of `data`."""
    con = connect_readonly(data)
    try:
        return run_query(con, sql, limits)
    finally:
        con.close()


@functools.lru_cache(maxsize=4096)
def gold_results(task: SqlTask) -> tuple[QueryResult, ...]:
    """Gold's result on every database of the task (cached); raises `VerifierError` if the task is broken."""
    try:
        dbs = task_databases(task)
    except (OSError, KeyError, ValueError) as exc:
        raise VerifierError(f"task {task.task_id}: cannot build its databases: {exc}") from exc
    results = tuple(run_on(data, task.gold_sql, GOLD_LIMITS) for data in dbs)
    for index, result in enumerate(results):
        if not result.ok:
            raise VerifierError(f"task {task.task_id}: the gold query fails on database {index}: {result.error}")
    if not any(r.rows for r in results):
        raise VerifierError(f"task {task.task_id}: the gold query returns no rows on any database, so it cannot "
                            "tell answers apart; regenerate the task or add variants")
    return results


@functools.lru_cache(maxsize=4096)
def gold_ordered(sql: str) -> bool:
    """Whether gold orders its rows at top level (cached)."""
    return is_ordered(sql)


def verify(task: SqlTask, answer: str, limits: QueryLimits = QueryLimits()) -> Verdict:
    """Judge `answer` (SQL in the task's dialect) against the task's gold query on every database."""
    gold = gold_results(task)
    try:
        sql = prepare_query(answer, task.dialect, limits)
    except InvalidQuery as exc:
        return _verdict(0, 0.0, 0, {"error": str(exc), "databases": len(gold)})
    ordered = gold_ordered(task.gold_sql)
    common: Permutations = None
    matched = 0
    error: str | None = None
    valid = 0
    for index, data in enumerate(task_databases(task)):
        result = run_on(data, sql, limits)
        if not result.ok:
            error = f"database {index}: {result.error}"
            break
        valid = 1 if index == 0 else valid
        perms = matching_permutations(gold[index], result, ordered)
        if perms is None or perms:
            matched += 1
            common = perms if common is None else (common if perms is None else common & perms)
        else:
            common = frozenset()
    exact = int(matched == len(gold) and (common is None or bool(common)))
    details = {"sql": sql, "databases": len(gold), "matched": matched, "ordered": ordered}
    if error:
        details["error"] = error
    return _verdict(exact, matched / len(gold), valid, details)


def _verdict(exact: int, fraction: float, valid: int, details: dict) -> Verdict:
    components = {"exec_match": float(exact), "exec_fraction": fraction, "valid_sql": float(valid)}
    return Verdict(passed=bool(exact), score=float(exact), components=components, details=details)
