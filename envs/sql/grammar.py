"""The query grammar: question templates paired with gold SQLite, drawn per schema domain.

Each shape is a function `(rng, domain) -> Draft`. Shapes are grouped by difficulty: `easy` (one table,
filters, counts, order/limit, DISTINCT, NULL tests), `medium` (joins, GROUP BY/HAVING, LEFT JOIN anti-joins,
NULL-aware filters) and `hard` (scalar and correlated subqueries, set operations, ranked aggregates).
Every ORDER BY is a total order (unique keys or an explicit tie-breaker), so row order is well defined.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from verigym.envs.sql.schemas import Column, Domain, Table

LEVELS = ("easy", "medium", "hard")
_OPS = ((">", "greater than"), ("<", "less than"), (">=", "at least"), ("<=", "at most"))
_AGGS = (("MAX", "highest"), ("MIN", "lowest"), ("AVG", "average"), ("SUM", "total"))


@dataclass(frozen=True)
class Draft:
    """A question, its gold SQLite query and the grammar shape that made them."""

    question: str
    sql: str
    shape: str


def _lit(column: Column, rng: random.Random) -> int | str:
    if column.kind == "cat":
        return rng.choice(column.values)
    span = column.hi - column.lo
    return int(rng.uniform(column.lo + span * 0.2, column.hi - span * 0.2))


def _sql(value: int | str) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _num(t: Table, rng: random.Random, nullable: bool | None = None, summable: bool = False) -> Column:
    cols = [c for c in t.of_kind("int", "real") if (nullable is None or c.nullable == nullable) and (c.summable or not summable)]
    return rng.choice(cols)


def _cond(t: Table, rng: random.Random, prefix: str = "") -> tuple[str, str]:
    """A random filter on `t`: (SQL, English)."""
    if rng.random() < 0.5 and t.of_kind("cat"):
        c = rng.choice(t.of_kind("cat"))
        v = _lit(c, rng)
        return f"{prefix}{c.name} = {_sql(v)}", f"{c.phrase} is '{v}'"
    c = _num(t, rng)
    v = _lit(c, rng)
    op, words = rng.choice(_OPS)
    return f"{prefix}{c.name} {op} {v}", f"{c.phrase} is {words} {v}"


def _entity(d: Domain, rng: random.Random) -> Table:
    return rng.choice((d.left, d.right))


def _label(t: Table) -> str:
    return t.column("name").phrase


# --- easy ------------------------------------------------------------------------------------------
def filter_rows(rng: random.Random, d: Domain) -> Draft:
    t = _entity(d, rng)
    sql, words = _cond(t, rng)
    return Draft(f"List the {_label(t)}s of all {t.plural} whose {words}.", f"SELECT name FROM {t.name} WHERE {sql}", "filter")


def count_rows(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice(d.tables)
    sql, words = _cond(t, rng)
    return Draft(f"How many {t.plural} have a {words.replace(' is ', ' that is ', 1)}?", f"SELECT COUNT(*) FROM {t.name} WHERE {sql}", "count")


def top_k(rng: random.Random, d: Domain) -> Draft:
    t = _entity(d, rng)
    k = rng.randint(2, 5)
    keys = [c for c in t.of_kind("int", "real") if c.unique and not c.nullable]
    if not keys:
        return Draft(f"List the first {k} {t.plural} {_label(t)}s in alphabetical order.",
                     f"SELECT name FROM {t.name} ORDER BY name LIMIT {k}", "top_k")
    c = rng.choice(keys)
    desc = rng.random() < 0.5
    word, order = ("highest", "DESC") if desc else ("lowest", "ASC")
    return Draft(f"Which {k} {t.plural} have the {word} {c.phrase}? Give each {_label(t)} and {c.phrase}, {word} first.",
                 f"SELECT name, {c.name} FROM {t.name} ORDER BY {c.name} {order} LIMIT {k}", "top_k")


def distinct_values(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if t.of_kind("cat")])
    c = rng.choice(t.of_kind("cat"))
    n = _num(t, rng)
    v = _lit(n, rng)
    op, words = rng.choice(_OPS)
    return Draft(f"Which distinct {c.phrase} values occur among {t.plural} whose {n.phrase} is {words} {v}?",
                 f"SELECT DISTINCT {c.name} FROM {t.name} WHERE {n.name} {op} {v}", "distinct")


def null_test(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in (d.left, d.right) if any(c.nullable for c in t.columns)])
    c = rng.choice([c for c in t.columns if c.nullable])
    if rng.random() < 0.5:
        return Draft(f"Which {t.plural} have no recorded {c.phrase}? List their {_label(t)}s.",
                     f"SELECT name FROM {t.name} WHERE {c.name} IS NULL", "is_null")
    return Draft(f"List the {_label(t)}s of {t.plural} whose {c.phrase} is known.",
                 f"SELECT name FROM {t.name} WHERE {c.name} IS NOT NULL", "is_not_null")


def aggregate(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if t.of_kind("cat")])
    c = rng.choice(t.of_kind("cat"))
    n = _num(t, rng)
    fn, word = rng.choice(_AGGS if n.summable else _AGGS[:3])
    v = _lit(c, rng)
    return Draft(f"What is the {word} {n.phrase} of {t.plural} whose {c.phrase} is '{v}'?",
                 f"SELECT {fn}({n.name}) FROM {t.name} WHERE {c.name} = {_sql(v)}", "aggregate")


# --- medium ----------------------------------------------------------------------------------------
def join_filter(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    sql, words = _cond(d.fact, rng, "f.")
    return Draft(f"Which {e.plural} are linked to at least one {d.fact.noun} whose {words}? List each {_label(e)} once.",
                 f"SELECT DISTINCT e.name FROM {e.name} AS e JOIN {d.fact.name} AS f ON e.id = f.{d.fk(e).name} WHERE {sql}",
                 "join_filter")


def join_pairs(rng: random.Random, d: Domain) -> Draft:
    sql, words = _cond(d.fact, rng, "f.")
    l, r = d.left, d.right
    return Draft(f"For every {d.fact.noun} whose {words}, give the {l.noun}'s {_label(l)} and the {r.noun}'s "
                 f"{_label(r)} (one row per {d.fact.noun}).",
                 f"SELECT l.name, r.name FROM {d.fact.name} AS f JOIN {l.name} AS l ON l.id = f.{d.fk(l).name} "
                 f"JOIN {r.name} AS r ON r.id = f.{d.fk(r).name} WHERE {sql}", "join_pairs")


def group_count(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if t.of_kind("cat")])
    c = rng.choice(t.of_kind("cat"))
    return Draft(f"For each {c.phrase}, how many {t.plural} are there? Give the {c.phrase} and the count.",
                 f"SELECT {c.name}, COUNT(*) FROM {t.name} GROUP BY {c.name}", "group_count")


def group_having(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    k = rng.randint(2, 4)
    return Draft(f"Which {e.plural} have at least {k} {d.fact.plural}? Give each {_label(e)} with its number of {d.fact.plural}.",
                 f"SELECT e.name, COUNT(*) FROM {e.name} AS e JOIN {d.fact.name} AS f ON e.id = f.{d.fk(e).name} "
                 f"GROUP BY e.id, e.name HAVING COUNT(*) >= {k}", "group_having")


def group_average(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if t.of_kind("cat")])
    c = rng.choice(t.of_kind("cat"))
    n = _num(t, rng)
    v = _lit(n, rng)
    return Draft(f"For each {c.phrase} whose {t.plural} have an average {n.phrase} above {v}, give the {c.phrase} and that average.",
                 f"SELECT {c.name}, AVG({n.name}) FROM {t.name} GROUP BY {c.name} HAVING AVG({n.name}) > {v}", "group_average")


def count_known(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if any(c.nullable for c in t.columns)])
    c = rng.choice([c for c in t.columns if c.nullable])
    sql, words = _cond(t, rng)
    if c.name in sql:
        return Draft(f"How many {t.plural} have a recorded {c.phrase}?", f"SELECT COUNT({c.name}) FROM {t.name}", "count_known")
    return Draft(f"Among {t.plural} whose {words}, how many have a recorded {c.phrase}?",
                 f"SELECT COUNT({c.name}) FROM {t.name} WHERE {sql}", "count_known")


def without_links(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    return Draft(f"Which {e.plural} have no {d.fact.plural} at all? List their {_label(e)}s.",
                 f"SELECT e.name FROM {e.name} AS e LEFT JOIN {d.fact.name} AS f ON e.id = f.{d.fk(e).name} WHERE f.id IS NULL",
                 "anti_join")


def null_or_below(rng: random.Random, d: Domain) -> Draft:
    t = rng.choice([t for t in d.tables if any(c.nullable and c.kind in ("int", "real") for c in t.columns)])
    c = rng.choice([c for c in t.columns if c.nullable and c.kind in ("int", "real")])
    v = _lit(c, rng)
    key, label = ("id", "id") if t is d.fact else ("name", _label(t))
    return Draft(f"List the {label}s of {t.plural} whose {c.phrase} is below {v} or not recorded.",
                 f"SELECT {key} FROM {t.name} WHERE {c.name} < {v} OR {c.name} IS NULL", "null_or")


# --- hard ------------------------------------------------------------------------------------------
def above_average(rng: random.Random, d: Domain) -> Draft:
    t = _entity(d, rng)
    n = _num(t, rng)
    return Draft(f"Which {t.plural} have a {n.phrase} above the average {n.phrase} of all {t.plural}? List their {_label(t)}s.",
                 f"SELECT name FROM {t.name} WHERE {n.name} > (SELECT AVG({n.name}) FROM {t.name})", "above_average")


def in_subquery(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    sql, words = _cond(d.fact, rng)
    return Draft(f"Give the {_label(e)}s of {e.plural} with at least one {d.fact.noun} whose {words}.",
                 f"SELECT name FROM {e.name} WHERE id IN (SELECT {d.fk(e).name} FROM {d.fact.name} WHERE {sql})", "in_subquery")


def not_exists(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    sql, words = _cond(d.fact, rng, "f.")
    return Draft(f"Which {e.plural} have no {d.fact.noun} whose {words}? List their {_label(e)}s.",
                 f"SELECT name FROM {e.name} AS e WHERE NOT EXISTS (SELECT 1 FROM {d.fact.name} AS f "
                 f"WHERE f.{d.fk(e).name} = e.id AND {sql})", "not_exists")


def set_operation(rng: random.Random, d: Domain) -> Draft:
    t = _entity(d, rng)
    (s1, w1), (s2, w2) = _cond(t, rng), _cond(t, rng)
    op, joiner = rng.choice((("INTERSECT", "and also"), ("EXCEPT", "but not"), ("UNION", "or")))
    return Draft(f"List the {_label(t)}s of {t.plural} whose {w1}, {joiner} whose {w2}.",
                 f"SELECT name FROM {t.name} WHERE {s1} {op} SELECT name FROM {t.name} WHERE {s2}", f"set_{op.lower()}")


def ranked_totals(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    n = _num(d.fact, rng, nullable=False, summable=True)
    k = rng.randint(2, 4)
    return Draft(f"Which {k} {e.plural} have the largest total {n.phrase} over their {d.fact.plural}? Give each "
                 f"{_label(e)} and the total, largest first, ties broken by {_label(e)} alphabetically.",
                 f"SELECT e.name, SUM(f.{n.name}) AS total FROM {e.name} AS e JOIN {d.fact.name} AS f "
                 f"ON e.id = f.{d.fk(e).name} GROUP BY e.id, e.name ORDER BY total DESC, e.name LIMIT {k}", "ranked_totals")


def nested_having(rng: random.Random, d: Domain) -> Draft:
    e = _entity(d, rng)
    k = rng.randint(1, 3)
    fk = d.fk(e).name
    return Draft(f"Which {e.plural} have more than {k} {d.fact.plural}? List their {_label(e)}s.",
                 f"SELECT name FROM {e.name} WHERE id IN (SELECT {fk} FROM {d.fact.name} GROUP BY {fk} HAVING COUNT(*) > {k})",
                 "nested_having")


Shape = Callable[[random.Random, Domain], Draft]
SHAPES: dict[str, tuple[Shape, ...]] = {
    "easy": (filter_rows, count_rows, top_k, distinct_values, null_test, aggregate),
    "medium": (join_filter, join_pairs, group_count, group_having, group_average, count_known, without_links, null_or_below),
    "hard": (above_average, in_subquery, not_exists, set_operation, ranked_totals, nested_having),
}
