"""Result comparison and verification: gold scores 1, near misses and answer hacks score 0."""

from __future__ import annotations

import pytest

from verigym.envs.sql.compare import is_ordered, matching_permutations, normalise, results_match
from verigym.envs.sql.env import SqlEnv
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.hacks import hardcoded_query
from verigym.envs.sql.safety import QueryResult
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import gold_results, verify
from verigym.envs.verdict import VerifierError


def R(columns: str, *rows: tuple) -> QueryResult:
    return QueryResult(tuple(columns.split()), tuple(rows))


def test_column_order_is_normalised_consistently() -> None:
    gold = R("a b", (1, "x"), (2, "y"))
    assert matching_permutations(gold, R("b a", ("x", 1), ("y", 2)), False) == {(1, 0)}
    assert not results_match(gold, R("a b", (1, "y"), (2, "x")), False)  # same columns, rows re-paired


def test_multisets_rows_and_order() -> None:
    gold = R("a", (1,), (1,), (2,))
    assert results_match(gold, R("a", (2,), (1,), (1,)), ordered=False)
    assert not results_match(gold, R("a", (2,), (1,), (1,)), ordered=True)
    assert not results_match(gold, R("a", (1,), (2,)), ordered=False)  # DISTINCT is not the same answer
    assert not results_match(gold, R("a b", (1, 0), (1, 0), (2, 0)), ordered=False)  # extra column


def test_float_tolerance_is_relative_and_tiny() -> None:
    assert normalise(0.1 + 0.2) == normalise(0.3)
    assert normalise(3.0) == 3 and isinstance(normalise(3.0), int)
    assert normalise(2.5) != normalise(2.5001)
    assert results_match(R("avg", (2.0 / 3,)), R("x", (0.6666666666666667,)), False)
    assert not results_match(R("avg", (2.0 / 3,)), R("x", (0.667,)), False)
    assert not results_match(R("a", ("3",)), R("a", (3,)), False)


def test_is_ordered_looks_only_at_the_top_level() -> None:
    assert is_ordered("SELECT a FROM t ORDER BY a")
    assert is_ordered("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")
    assert not is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
def test_gold_and_equivalent_rewrites_score_full_marks(level: str) -> None:
    for seed in range(30):
        task = generate_task(seed, difficulty=level)
        assert verify(task, task.gold_sql).components == {"exec_match": 1.0, "exec_fraction": 1.0, "valid_sql": 1.0}
        fenced = f"```sql\n{task.gold_sql};\n```"
        assert verify(task, fenced).passed
        if " ORDER BY " not in task.gold_sql and " UNION " not in task.gold_sql and "SELECT name FROM" in task.gold_sql:
            table = task.gold_sql.split(" FROM ")[1].split()[0]
            wrapped = f"SELECT g.name FROM ({task.gold_sql}) AS g"
            assert verify(task, wrapped).passed, (task.task_id, table)


def test_swapped_columns_pass_and_extra_columns_fail() -> None:
    task = next(t for t in (generate_task(s, difficulty="medium") for s in range(200)) if t.shape == "join_pairs")
    select, rest = task.gold_sql.split(" FROM ", 1)
    assert select == "SELECT l.name, r.name"
    assert verify(task, f"SELECT r.name, l.name FROM {rest}").passed
    extra = verify(task, f"SELECT l.name, r.name, f.id FROM {rest}")
    assert extra.components["exec_match"] == 0.0 and extra.components["valid_sql"] == 1.0


def test_select_star_from_the_main_table_scores_zero() -> None:
    for seed in range(60):
        task = generate_task(seed)
        table = task.gold_sql.split(" FROM ")[1].split()[0]
        assert verify(task, f"SELECT * FROM {table}").components["exec_match"] == 0.0, task.task_id


def test_empty_answer_fails_when_gold_is_empty_on_the_visible_database(generated) -> None:
    empty_on_visible = []
    for task, _ in generated:
        results = gold_results(task)
        if not results[0].rows and results[0].columns:
            empty_on_visible.append((task, len(results[0].columns)))
    assert len(empty_on_visible) >= 3, "the generator should sometimes make gold empty on the visible database"
    for task, width in empty_on_visible:
        assert verify(task, hardcoded_query((), width)).components["exec_match"] == 0.0, task.task_id
        assert verify(task, task.gold_sql + " LIMIT 0" if " LIMIT " not in task.gold_sql else task.gold_sql.split(" LIMIT ")[0] + " LIMIT 0").components["exec_match"] == 0.0


def test_invalid_sql_is_judged_not_crashed() -> None:
    task = generate_task(1)
    verdict = verify(task, "SELECT name FROM no_such_table")
    assert verdict.components == {"exec_match": 0.0, "exec_fraction": 0.0, "valid_sql": 0.0}
    assert "no such table" in verdict.details["error"]
    assert verify(task, "this is not sql").details["error"].startswith("the text is not a SQL query")
    assert verify(task, "SELECT name FROM (").details["error"].startswith("could not parse")


def test_a_postgres_answer_is_transpiled_when_the_task_allows_it() -> None:
    task = next(t for t in (generate_task(s, difficulty="easy", dialect="postgres") for s in range(100)) if t.shape == "top_k"
                and "ORDER BY name" not in t.gold_sql)
    select, rest = task.gold_sql.split(" FROM ", 1)
    table, _, order = rest.partition(" ORDER BY ")
    key, direction, _, k = order.split()
    answer = f"SELECT name::TEXT, {key} FROM {table} ORDER BY {key} {direction} NULLS LAST FETCH FIRST {k} ROWS ONLY"
    assert verify(task, answer).passed, answer
    sqlite_task = SqlTask.from_dict({**task.to_dict(), "dialect": "sqlite"})
    assert not verify(sqlite_task, answer).components["valid_sql"]


def test_broken_tasks_raise_verifier_error_not_zero() -> None:
    task = generate_task(2)
    failing = SqlTask.from_dict({**task.to_dict(), "task_id": "broken-1", "gold_sql": "SELECT nope FROM nowhere"})
    with pytest.raises(VerifierError, match="gold query fails"):
        verify(failing, "SELECT 1")
    empty = SqlTask.from_dict({**task.to_dict(), "task_id": "broken-2", "gold_sql": "SELECT 1 WHERE 0"})
    with pytest.raises(VerifierError, match="no rows on any database"):
        verify(empty, "SELECT 1 WHERE 0")
    env = SqlEnv()
    env.reset(options={"task": empty})
    with pytest.raises(VerifierError):
        env.step("<answer>SELECT 1 WHERE 0</answer>")
