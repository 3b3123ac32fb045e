"""Probe variants (issue 18): boundary, DISTINCT and LIMIT near misses are rejected; gold still passes."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from verigym.envs.sql import probes
from verigym.envs.sql.benchmark import format_report, mutant_report
from verigym.envs.sql.equivalence import ReferenceSet
from verigym.envs.sql.generator import PROBE_QUOTA, generate_task
from verigym.envs.sql.schemas import get_domain
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import task_databases, verify

SQL_DIR = Path(__file__).resolve().parents[1]
SHAPES = ("filter", "count", "distinct", "join_filter", "join_pairs", "in_subquery", "not_exists", "null_or",
          "set_intersect", "set_except", "set_union", "top_k", "ranked_totals", "group_having", "nested_having")


def boundary_mutants(sql: str) -> list[str]:
    """`>` <-> `>=`, `<` <-> `<=` and literal +-1 in WHERE, dropped DISTINCT, LIMIT k+1: never equivalent here."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    out: list[str] = []
    flips = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}
    for index, node in enumerate(tree.find_all(*flips)):
        copy = tree.copy()
        target = list(copy.find_all(*flips))[index]
        target.replace(flips[type(target)](this=target.this.copy(), expression=target.expression.copy()))
        out.append(copy.sql(dialect="sqlite"))
    for index, node in enumerate(tree.find_all(exp.Literal)):
        if node.is_string or not node.find_ancestor(exp.Where) or not isinstance(node.parent, tuple(flips) + (exp.EQ,)):
            continue
        for delta in (-1, 1):
            copy = tree.copy()
            target = list(copy.find_all(exp.Literal))[index]
            target.replace(exp.Literal.number(int(target.this) + delta))
            out.append(copy.sql(dialect="sqlite"))
    for index, node in enumerate(tree.find_all(exp.Select)):
        if node.args.get("distinct"):
            copy = tree.copy()
            list(copy.find_all(exp.Select))[index].set("distinct", None)
            out.append(copy.sql(dialect="sqlite"))
    limit = tree.args.get("limit")
    if limit is not None:
        copy = tree.copy()
        copy.args["limit"].set("expression", exp.Literal.number(int(limit.expression.this) + 1))
        out.append(copy.sql(dialect="sqlite"))
    return out


@pytest.fixture(scope="module")
def sample(generated) -> list[SqlTask]:
    """The first three tasks of each shape that has comparisons, DISTINCT or LIMIT (from the shared pool)."""
    picked: dict[str, list[SqlTask]] = {}
    for task, _ in generated:
        if task.shape in SHAPES and len(picked.setdefault(task.shape, [])) < 3:
            picked[task.shape].append(task)
    return [t for group in picked.values() for t in group]


@pytest.mark.timeout(120)
def test_boundary_distinct_and_limit_near_misses_are_rejected(sample: list[SqlTask]) -> None:
    assert len({t.shape for t in sample}) == len(SHAPES)
    checked = 0
    for task in sample:
        assert verify(task, task.gold_sql).passed, task.task_id
        reference = ReferenceSet(task.domain, task.gold_sql, n_random=40, n_probes=4)
        for sql in boundary_mutants(task.gold_sql):
            if verify(task, sql).passed:
                # only a set operation can make one of these equivalent (`a <= 1996 INTERSECT a < 1980`)
                assert task.shape.startswith("set_") and reference.equivalent(sql), (task.task_id, task.gold_sql, sql)
            checked += 1
    assert checked >= 80


@pytest.mark.timeout(120)
def test_the_previous_builder_missed_some_of_them(sample: list[SqlTask]) -> None:
    """The same check on random-profile variants alone accepts some: the probes are what catches them."""
    accepted = 0
    for task in sample:
        legacy = generate_task(task.seed, probe_variants=False)
        assert verify(legacy, legacy.gold_sql).passed
        accepted += sum(verify(legacy, sql).passed for sql in boundary_mutants(legacy.gold_sql))
    assert accepted >= 1


def test_tasks_carry_probe_variants_and_the_visible_database_none() -> None:
    for seed in range(10):
        task = generate_task(seed)
        assert sum(probes.is_probe_seed(s) for s in task.variant_seeds) >= PROBE_QUOTA
        legacy = generate_task(seed, probe_variants=False)
        assert not any(probes.is_probe_seed(s) for s in legacy.variant_seeds)
        assert task_databases(task)[0] == task_databases(legacy)[0]  # the visible database is untouched


def _rows(data: bytes, sql: str) -> list[tuple]:
    con = sqlite3.connect(":memory:")
    con.deserialize(data)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("gold", [
    "SELECT name FROM customers WHERE age > 40",
    "SELECT COUNT(*) FROM orders WHERE discount <= 20",
    "SELECT DISTINCT category FROM products WHERE price >= 100",
    "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > 2)",
    "SELECT status, AVG(quantity) FROM orders GROUP BY status HAVING AVG(quantity) > 5",
    "SELECT name FROM products WHERE price > (SELECT AVG(price) FROM products)",
    "SELECT e.name, SUM(f.quantity) AS total FROM customers AS e JOIN orders AS f ON e.id = f.customer_id "
    "GROUP BY e.id, e.name ORDER BY total DESC, e.name LIMIT 3",
])
def test_probe_databases_plant_the_boundary_and_respect_the_schema(gold: str) -> None:
    domain = get_domain("shop")
    assert (probes.PROBE_BASE + 40) % len(probes.BACKGROUNDS) == probes.PROBE_BASE % len(probes.BACKGROUNDS)
    for k in range(len(probes.BACKGROUNDS)):
        data = probes.probe_database("shop", probes.PROBE_BASE + 40 + k, gold)
        fk_ok = {t.name: {r[0] for r in _rows(data, f"SELECT id FROM {t.name}")} for t in (domain.left, domain.right)}
        for table in domain.tables:
            for column in table.columns:
                values = [r[0] for r in _rows(data, f"SELECT {column.name} FROM {table.name}")]
                known = [v for v in values if v is not None]
                if not column.nullable:
                    assert len(known) == len(values), (table.name, column.name)
                if column.unique or column.kind == "id":
                    assert len(set(known)) == len(known), (table.name, column.name)
                kinds = {"int": int, "id": int, "fk": int, "real": float, "cat": str, "name": str}
                assert all(isinstance(v, kinds[column.kind]) for v in known), (table.name, column.name)
                if column.kind == "cat":
                    assert set(known) <= set(column.values)
                if column.kind == "fk" and "links" not in probes.BACKGROUNDS[k][1]:
                    assert set(known) <= fk_ok[column.references], "only the join probes may dangle"
    boundary = [probes.probe_database("shop", probes.PROBE_BASE + 40 + k, gold) for k in range(len(probes.BACKGROUNDS))
                if "boundary" in probes.BACKGROUNDS[k][1]]
    assert len(boundary) == 4
    p = probes.plan(gold, "shop")
    for comparison in p.comparisons:
        for data in boundary:
            column = domain.table(comparison.table).column(comparison.column)
            values = {r[0] for r in _rows(data, f"SELECT {comparison.column} FROM {comparison.table}")}
            step = 1 if column.kind == "int" else 0.01
            assert {comparison.value - step, comparison.value, comparison.value + step} <= values, (gold, values)
    if p.average_columns:
        table, column = p.average_columns[0]
        for data in boundary:
            assert _rows(data, f"SELECT COUNT(*) FROM {table} WHERE {column} = (SELECT AVG({column}) FROM {table})")[0][0] >= 1
    for threshold in p.thresholds:
        assert threshold.agg in ("count", "avg")
        for data in boundary:
            if threshold.agg == "count":
                counts = {r[0] for r in _rows(data, "SELECT COUNT(*) FROM orders GROUP BY customer_id")}
            else:
                counts = {r[0] for r in _rows(data, "SELECT AVG(quantity) FROM orders GROUP BY status")}
            assert {threshold.value - 1, threshold.value, threshold.value + 1} <= counts, (gold, counts)
    if p.tie_key is not None:
        for data in boundary:
            totals = [r[0] for r in _rows(data, "SELECT SUM(quantity) AS t FROM orders GROUP BY customer_id ORDER BY t DESC")]
            assert totals[0] == totals[p.tie_rows - 1], "k+1 entities tie at the top"


def test_the_held_out_operators_stay_apart_from_the_variant_builder() -> None:
    builders = ("generator.py", "probes.py", "database.py", "verifier.py", "mutants.py", "env.py")
    for name in builders:
        tree = ast.parse((SQL_DIR / name).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any("nearmiss" in m or "equivalence" in m or "benchmark" in m for m in imported), name


def test_equivalence_estimate_separates_a_flip_and_keeps_a_rewrite() -> None:
    reference = ReferenceSet("shop", "SELECT name FROM customers WHERE age > 40", n_random=20, n_probes=2)
    assert reference.equivalent("SELECT name FROM customers WHERE age >= 41")
    assert reference.equivalent("SELECT c.name FROM customers AS c WHERE NOT c.age <= 40")
    assert not reference.equivalent("SELECT name FROM customers WHERE age >= 40")
    assert not reference.equivalent("SELECT name FROM customers WHERE age > 40 OR age IS NULL")
    # the random reference databases alone (no probes) separate a boundary near miss too: "equivalent" never
    # rests on the probe databases missing it
    random_only = ReferenceSet("shop", "SELECT name FROM customers WHERE age > 40", n_random=40, n_probes=0)
    assert not random_only.equivalent("SELECT name FROM customers WHERE age >= 40")
    nulls = ReferenceSet("shop", "SELECT MAX(discount) FROM orders WHERE status = 'shipped'", n_random=20, n_probes=8)
    assert not nulls.equivalent("SELECT MAX(COALESCE(discount, 0)) FROM orders WHERE status = 'shipped'")


@pytest.mark.timeout(120)
def test_benchmark_report_on_a_few_seeds() -> None:
    report = mutant_report([0, 1, 2, 3], n_random=10, n_probes=2, seconds=0.1)
    assert [(r["builder"], r["family"]) for r in report["table"]] == [
        ("before", "project"), ("before", "held-out"), ("after", "project"), ("after", "held-out")]
    for row in report["table"]:
        assert row["mutants"] == row["equivalent"] + row["non_equivalent"] > 0
        assert 0 <= row["non_equivalent_accepted"] <= row["non_equivalent"]
    assert report["verify_per_s"]["before"] > 0 and report["verify_ratio"] > 0
    for family in ("project", "held-out"):
        after = next(r for r in report["table"] if r["builder"] == "after" and r["family"] == family)
        rows = [r["after"] for r in report["operators"] if r["family"] == family]
        assert sum(r["non_equivalent"] for r in rows) == after["non_equivalent"]
        assert sum(r["non_equivalent_accepted"] for r in rows) == after["non_equivalent_accepted"]
    assert set(report["target"]) >= {"met", "families_ok", "operators_ok", "operators_over"}
    text = format_report(report)
    assert "non-eq accepted" in text and "per operator" in text and "target (after builder" in text


@pytest.mark.parametrize(("gold", "near_miss"), [
    # DISTINCT over a category, a REAL / unique filtered column, the literal moved either way
    ("SELECT DISTINCT category FROM products WHERE price >= 100", "SELECT DISTINCT category FROM products WHERE price >= 99"),
    ("SELECT DISTINCT category FROM products WHERE price >= 100", "SELECT DISTINCT category FROM products WHERE price >= 101"),
    ("SELECT DISTINCT city FROM customers WHERE age < 40", "SELECT DISTINCT city FROM customers WHERE age < 39"),
    # NULL handling in aggregates: only NULLs where the filter holds; COUNT(*) vs COUNT(column) in HAVING
    ("SELECT MAX(discount) FROM orders WHERE status = 'shipped'", "SELECT MAX(COALESCE(discount, 0)) FROM orders WHERE status = 'shipped'"),
    ("SELECT SUM(discount) FROM orders WHERE status = 'shipped'", "SELECT SUM(COALESCE(discount, 0)) FROM orders WHERE status = 'shipped'"),
    ("SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > 2)",
     "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(orders.discount) > 2)"),
    # HAVING AVG vs SUM at the threshold
    ("SELECT status, AVG(quantity) FROM orders GROUP BY status HAVING AVG(quantity) > 5",
     "SELECT status, AVG(quantity) FROM orders GROUP BY status HAVING SUM(quantity) > 5"),
    # LEFT JOIN in a top-k of totals: fewer than k entities have facts
    ("SELECT e.name, SUM(f.quantity) AS total FROM customers AS e JOIN orders AS f ON e.id = f.customer_id "
     "GROUP BY e.id, e.name ORDER BY total DESC, e.name LIMIT 3",
     "SELECT e.name, SUM(f.quantity) AS total FROM customers AS e LEFT JOIN orders AS f ON e.id = f.customer_id "
     "GROUP BY e.id, e.name ORDER BY total DESC, e.name LIMIT 3"),
    # a literal moved on one side of EXCEPT / INTERSECT
    ("SELECT name FROM customers WHERE age >= 30 EXCEPT SELECT name FROM customers WHERE city = 'Lisbon'",
     "SELECT name FROM customers WHERE age >= 29 EXCEPT SELECT name FROM customers WHERE city = 'Lisbon'"),
    ("SELECT name FROM customers WHERE age >= 30 INTERSECT SELECT name FROM customers WHERE city = 'Lisbon'",
     "SELECT name FROM customers WHERE age > 30 INTERSECT SELECT name FROM customers WHERE city = 'Lisbon'"),
])
def test_the_bare_probe_databases_separate_the_near_misses_at_their_boundaries(gold: str, near_miss: str) -> None:
    """The generator's quota always takes the bare boundary and the bare NULL/join databases; one of them
    must separate each of these near misses from gold, for every probe seed tried."""
    from verigym.envs.sql.compare import is_ordered, results_match
    from verigym.envs.sql.safety import QueryLimits
    from verigym.envs.sql.verifier import run_on

    limits = QueryLimits()
    kinds = [k for k in range(len(probes.BACKGROUNDS)) if probes.probe_kind(probes.PROBE_BASE + k) != "full"]
    assert sorted(probes.probe_kind(probes.PROBE_BASE + k) for k in kinds) == ["boundary", "links"]
    for base in range(probes.PROBE_BASE, probes.PROBE_BASE + 10 * len(probes.BACKGROUNDS), len(probes.BACKGROUNDS)):
        separated = False
        for k in kinds:
            data = probes.probe_database("shop", base + k, gold)
            expected, got = run_on(data, gold, limits), run_on(data, near_miss, limits)
            assert expected.ok and got.ok, (expected.error, got.error)
            separated |= not results_match(expected, got, is_ordered(gold))
        assert separated, (base, gold, near_miss)
