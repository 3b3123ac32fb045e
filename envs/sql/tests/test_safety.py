"""Queries that write, escape or exhaust the database score 0 and leave every database byte-identical."""

from __future__ import annotations

import os
import time

import pytest

from verigym.envs.actions import format_tool_call
from verigym.envs.sql.env import SqlEnv
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.hacks import SAFETY_ATTACKS
from verigym.envs.sql.safety import InvalidQuery, QueryLimits, connect_readonly, prepare_query, run_query
from verigym.envs.sql.verifier import task_databases, verify

LIMITS = QueryLimits(time_s=0.3, max_rows=10_000)
TASK = generate_task(5, domains=("shop",))
ATTACKS = {name: sql.format(table="orders") for name, sql in SAFETY_ATTACKS.items()}


@pytest.fixture(autouse=True)
def no_files_created():
    yield
    assert not os.path.exists("/tmp/verigym-sql-attack.db") and not os.path.exists("/tmp/verigym-sql-copy.db")


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_zero_and_databases_stay_identical(name: str) -> None:
    before = task_databases(TASK)
    start = time.perf_counter()
    verdict = verify(TASK, ATTACKS[name], LIMITS)
    assert time.perf_counter() - start < 3.0
    assert verdict.components == {"exec_match": 0.0, "exec_fraction": 0.0, "valid_sql": 0.0}, verdict.details
    assert "error" in verdict.details
    task_databases.cache_clear()
    assert task_databases(TASK) == before


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_connection_alone_refuses_the_attack(name: str) -> None:
    """Bypass the sqlglot check: the authorizer, query_only and limits still stop every attack."""
    data = task_databases(TASK)[0]
    con = connect_readonly(data)
    result = run_query(con, ATTACKS[name], LIMITS)
    assert not result.ok, name
    assert run_query(con, "SELECT COUNT(*) FROM orders", LIMITS).ok
    assert con.serialize() == data
    con.close()


def test_the_reasons_are_specific() -> None:
    con = connect_readonly(task_databases(TASK)[0])
    assert run_query(con, ATTACKS["runs_forever"], LIMITS).error_kind == "timeout"
    rows_limit = QueryLimits(time_s=5.0, max_rows=1000)
    assert run_query(con, ATTACKS["millions_of_rows"], rows_limit).error_kind == "too_many_rows"
    assert "not authorized" in (run_query(con, ATTACKS["delete"], LIMITS).error or "")
    con.close()
    with pytest.raises(InvalidQuery, match="2 SQL statements"):
        prepare_query(ATTACKS["multiple_statements"])
    with pytest.raises(InvalidQuery, match="only read-only queries"):
        prepare_query(ATTACKS["pragma_writable_schema"])
    with pytest.raises(InvalidQuery, match="empty"):
        prepare_query("  ;  ")
    with pytest.raises(InvalidQuery, match="could not parse"):
        prepare_query("SELEC name FROM")


def test_attacks_through_the_execute_tool_do_nothing() -> None:
    env = SqlEnv(tool_budget=len(ATTACKS) + 1, max_turns=len(ATTACKS) + 2, time_limit_s=0.3)
    env.reset(options={"task": TASK})
    before = env.visible
    for sql in ATTACKS.values():
        obs, reward, terminated, truncated, _ = env.step(format_tool_call("execute", {"sql": sql}))
        assert obs[0]["content"].startswith("Error:"), (sql, obs)
        assert reward == 0.0 and not terminated
    task_databases.cache_clear()
    assert task_databases(TASK)[0] == before
    _, reward, terminated, _, _ = env.step(env.oracle_action())
    assert terminated and reward == 1.0


def test_read_only_queries_still_work() -> None:
    con = connect_readonly(task_databases(TASK)[0])
    ok = run_query(con, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) "
                        "SELECT x, upper('a'), (SELECT COUNT(*) FROM orders) FROM c", LIMITS)
    assert ok.ok and len(ok.rows) == 5
    con.close()
