"""Generated tasks: deterministic, serialisable, every gold query useful, near-misses caught by the variants."""

from __future__ import annotations

import collections
import sqlite3

import pytest

from verigym.envs.sql import database
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.grammar import LEVELS, SHAPES
from verigym.envs.sql.hacks import hardcoded_query
from verigym.envs.sql.mutants import mutants
from verigym.envs.sql.schemas import DOMAINS
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import gold_results, task_databases, verify


def test_same_seed_same_task_and_databases() -> None:
    a, b = generate_task(123), generate_task(123)
    assert a == b
    database.build_database.cache_clear()
    task_databases.cache_clear()
    assert task_databases(a) == task_databases(b)
    assert generate_task(124) != a


def test_task_round_trips_through_json() -> None:
    task = generate_task(7, difficulty="hard", dialect="postgres")
    again = SqlTask.from_json(task.to_json())
    assert again == task and isinstance(again.variant_seeds, tuple)
    assert again.dialect == "postgres" and again.difficulty == "hard"


def test_bad_arguments_are_refused_with_the_options() -> None:
    with pytest.raises(ValueError, match="easy"):
        generate_task(0, difficulty="impossible")
    with pytest.raises(ValueError, match="shop"):
        generate_task(0, domains=("zoo",))


def test_variants_differ_from_the_visible_database() -> None:
    task = generate_task(11)
    dbs = task_databases(task)
    assert len(dbs) == 5 and len(set(dbs)) == 5


def test_pool_covers_every_domain_level_and_most_shapes(generated) -> None:
    tasks = [t for t, _ in generated]
    assert {t.domain for t in tasks} == set(DOMAINS)
    assert {t.difficulty for t in tasks} == set(LEVELS)
    all_shapes = {s.__name__ for group in SHAPES.values() for s in group}
    assert len({t.shape for t in tasks}) >= len(all_shapes) - 1


def test_every_gold_is_non_empty_somewhere_and_passes(generated) -> None:
    for task, _ in generated:
        assert any(r.rows for r in gold_results(task)), task.task_id
        assert verify(task, task.gold_sql).passed, task.task_id


def test_variants_distinguish_near_miss_mutants(generated) -> None:
    """Each task separates at least one mutant; the overall rate is printed (run with -s to see it)."""
    by_kind: collections.Counter[str] = collections.Counter()
    caught: collections.Counter[str] = collections.Counter()
    for task, selection in generated[:150]:
        for kind, sql in mutants(task.gold_sql):
            by_kind[kind] += 1
            caught[kind] += not verify(task, sql).passed
    total = sum(s.mutants for _, s in generated)
    distinguished = sum(s.distinguished for _, s in generated)
    assert all(s.distinguished >= 1 for _, s in generated if s.mutants)
    rate = distinguished / total
    print(f"\nmutant distinguish rate over {len(generated)} tasks: {distinguished}/{total} = {rate:.3f}")
    print("per kind (150 tasks, via verify):", {k: f"{caught[k]}/{by_kind[k]}" for k in sorted(by_kind)})
    assert rate >= 0.85
    # verify agrees with the generator's own statistics on the sampled tasks
    assert sum(caught.values()) == sum(s.distinguished for _, s in generated[:150])


def test_hardcoding_the_visible_result_scores_zero(generated) -> None:
    """Literal rows copied from the visible database's gold result never pass: a variant differs."""
    for task, _ in generated:
        visible = gold_results(task)[0]
        verdict = verify(task, hardcoded_query(visible.rows, len(visible.columns)))
        assert verdict.components["exec_match"] == 0.0, (task.task_id, task.gold_sql)
        assert verdict.components["valid_sql"] == 1.0


def test_hardcoding_row_ids_scores_zero(generated) -> None:
    """`WHERE id IN (ids that answer on the visible db)` fails on variants with different rows."""
    checked = 0
    for task, _ in generated:
        if task.shape not in ("filter", "is_null", "is_not_null", "above_average", "null_or"):
            continue
        table = task.gold_sql.split(" FROM ")[1].split()[0]
        con = sqlite3.connect(":memory:")
        con.deserialize(task_databases(task)[0])
        key = task.gold_sql.split()[1]
        ids = [r[0] for r in con.execute(f"SELECT id FROM {table} WHERE {key} IN ({task.gold_sql})")]
        con.close()
        hack = f"SELECT {key} FROM {table} WHERE id IN ({', '.join(map(str, ids)) or 'NULL'})"
        assert verify(task, hack).components["exec_match"] == 0.0, (task.task_id, hack)
        checked += 1
    assert checked >= 50
