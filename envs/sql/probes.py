"""Probe databases: hidden variants with rows planted exactly where near-miss queries differ from gold.

`plan(gold_sql, domain)` reads the gold query (sqlglot) and lists what a near miss could get wrong;
`probe_database(domain, seed, gold_sql)` builds a small random background and adds, in fresh context
(new entities, so one planted row is the only fact of its entity):

- each comparison `column op literal`: rows at the literal, just below and just above it (int: +-1; real:
  +-0.01 and +-1), a NULL row when the column is nullable, and a twin of each row (duplicates, so a
  dropped DISTINCT shows; none for a unique column). The rows below, at and above the literal each get their
  own category values (a NULL row those of a failing side), so `SELECT DISTINCT category ... WHERE x op k`
  shows a boundary moved either way. An entity row meets the query's other conditions and its twin fails
  them (a shifted literal shows on either side of INTERSECT / EXCEPT / UNION); a fact row's other filtered
  columns satisfy their conditions half the time;
- each `HAVING aggregate op literal`: groups whose aggregate is literal-1, literal and literal+1 (AVG: two
  rows around the target and a NULL, so SUM and COUNT(*) disagree; COUNT(*): one fact NULL wherever it can
  be, so COUNT(column) is one less);
- `column op (SELECT AVG(column) ...)`: a row exactly at the average;
- `ORDER BY key ... [LIMIT k]` on a key that can tie: k+1 rows tied at the top (only the tie-breaker decides);
- nullable columns of every table the query reads: NULLs; an entity with no facts and facts whose foreign
  key points at no entity (INNER vs LEFT JOIN). In the bare NULL/join database every nullable column a
  row does not set is NULL and every row meets the query's other conditions, so an aggregate sees only NULLs
  (SUM(x) vs SUM(COALESCE(x, 0)), COUNT(*) vs COUNT(x)), and under `LIMIT k` at most k-1 entities have
  facts (a LEFT JOIN's unmatched parents reach the top k).

Types, NOT NULL, uniqueness and foreign keys are respected (except the deliberate dangling keys, which the
schema does not enforce). Everything is a pure function of (domain, seed, gold query). The visible
database never carries probes; it keeps its natural look.
"""

from __future__ import annotations

import functools
import random
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from verigym.envs.sql import database
from verigym.envs.sql.schemas import Column, Domain, Table, get_domain

# Variant seeds at or above PROBE_BASE name probe databases; smaller seeds name random-profile variants.
PROBE_BASE = 1 << 40
_OPS = {exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
_NEGATE = {"=": "<>", "<>": "=", ">": "<=", ">=": "<", "<": ">=", "<=": ">"}
_MIRROR = {"=": "=", "<>": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_AGGS = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
_EMPTY = database.Profile("probe-empty", (0, 0), (0, 0))
# (background rows, which probes): (seed - PROBE_BASE) % len(BACKGROUNDS) picks one. The bare ones isolate each kind of probe
# (only boundary rows, each with its own category values; or only NULL and join probes, few facts).
BACKGROUNDS = (
    (database.Profile("probe-small", (3, 6), (4, 10)), ("boundary", "links")),
    (database.Profile("probe-duplicates", (4, 8), (6, 12), narrow=True), ("boundary", "links")),
    (database.Profile("probe-nulls", (4, 8), (6, 12), null_scale=2.5), ("boundary", "links")),
    (_EMPTY, ("boundary",)),
    (_EMPTY, ("links",)),
)


@dataclass(frozen=True)
class Comparison:
    """`table.column op value` somewhere in the query (value a literal)."""

    table: str
    column: str
    op: str
    value: Any
    others: str = "all"  # whether a row at this boundary shows best meeting ("all") or failing ("none") the rest


@dataclass(frozen=True)
class Threshold:
    """`HAVING agg(column) op value`, grouped by `group` (an entity table name, or `table.column`)."""

    agg: str
    column: str | None
    op: str
    value: int | float
    group_entity: str | None
    group_table: str | None
    group_column: str | None


@dataclass(frozen=True)
class Plan:
    """What a probe database must plant for one gold query."""

    comparisons: tuple[Comparison, ...]
    thresholds: tuple[Threshold, ...]
    average_columns: tuple[tuple[str, str], ...]  # (table, column) compared with their own average
    tie_key: tuple[str, str, str] | None  # ("column", table, column) or ("total", entity, fact column)
    tie_rows: int
    tables: tuple[str, ...]
    limit: int | None = None  # the top-level LIMIT k


def is_probe_seed(variant_seed: int) -> bool:
    """Whether a variant seed names a probe database."""
    return variant_seed >= PROBE_BASE


def probe_kind(variant_seed: int) -> str:
    """Which kind of probe database a probe seed names: "full" (random background with every probe),
    "boundary" (only the boundary probes) or "links" (only the NULL and join probes)."""
    background, parts = BACKGROUNDS[(variant_seed - PROBE_BASE) % len(BACKGROUNDS)]
    return "full" if background is not _EMPTY else "+".join(parts)


@functools.lru_cache(maxsize=4096)
def plan(gold_sql: str, domain_name: str) -> Plan:
    """The probes `gold_sql` needs on `domain_name`'s schema."""
    domain = get_domain(domain_name)
    try:
        tree = sqlglot.parse_one(gold_sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return Plan((), (), (), None, 0, (), None)
    comparisons: list[Comparison] = []
    thresholds: list[Threshold] = []
    averages: list[tuple[str, str]] = []
    for node in tree.find_all(*_OPS):
        left, right, op = node.this, node.expression, _OPS[type(node)]
        if isinstance(left, (exp.Literal, exp.Subquery)) and not isinstance(right, (exp.Literal, exp.Subquery)):
            left, right, op = right, left, _MIRROR[op]
        if isinstance(left, exp.Column) and isinstance(right, exp.Literal):
            table = _table_of(left, domain)
            if table is not None:
                comparisons.append(Comparison(table.name, left.name, op, _literal(right), _others(node)))
        elif isinstance(left, exp.Column) and isinstance(right, exp.Subquery):
            inner = right.this
            table = _table_of(left, domain)
            if table is not None and isinstance(inner, exp.Select) and any(isinstance(e, exp.Avg) for e in inner.expressions):
                averages.append((table.name, left.name))
        elif (isinstance(left, exp.AggFunc) and type(left) in _AGGS and isinstance(right, exp.Literal) and not right.is_string
              and node.find_ancestor(exp.Having)):
            thresholds.append(_threshold(left, op, right, node, domain))
    tie_key, tie_rows = _tie_key(tree, domain)
    known = {t.name for t in domain.tables}
    tables = tuple(sorted({t.name for t in tree.find_all(exp.Table) if t.name in known}))
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    k = int(limit.expression.this) if limit is not None and isinstance(limit.expression, exp.Literal) else None
    return Plan(tuple(comparisons), tuple(thresholds), tuple(averages), tie_key, tie_rows, tables, k)


def _others(node: exp.Expression) -> str:
    """How a boundary row of this comparison should treat the query's other conditions so that a moved
    boundary changes the result: meet them under INTERSECT (and without a set operation) and on the right of
    EXCEPT; fail them under UNION and on the left of EXCEPT."""
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.Union):
            return "none"
        if isinstance(parent, exp.Except):
            return "none" if child is parent.this else "all"
        if isinstance(parent, exp.Intersect):
            return "all"
        child, parent = parent, parent.parent
    return "all"


def _literal(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    value = float(node.this)
    return int(value) if value.is_integer() and "." not in node.this else value


def _table_of(column: exp.Column, domain: Domain) -> Table | None:
    """The schema table a column reference reads (names other than id/name are unique per domain)."""
    if column.name not in ("id", "name"):
        return next((t for t in domain.tables if any(c.name == column.name for c in t.columns)), None)
    select = column.find_ancestor(exp.Select)
    sources = list(select.find_all(exp.Table)) if select is not None else []
    for source in sources:
        if column.table in (source.alias_or_name, source.name) or not column.table:
            return next((t for t in domain.tables if t.name == source.name), None)
    return None


def _threshold(agg: exp.AggFunc, op: str, literal: exp.Literal, node: exp.Expression, domain: Domain) -> Threshold:
    kind = _AGGS[type(agg)]
    column = agg.this.name if isinstance(agg.this, exp.Column) else None
    select = node.find_ancestor(exp.Select)
    group = select.args.get("group") if select is not None else None
    keys = list(group.expressions) if group is not None else []
    entity = table = group_column = None
    for key in keys:
        if not isinstance(key, exp.Column):
            continue
        owner = _table_of(key, domain)
        if owner is None:
            continue
        spec = owner.column(key.name)
        if spec.kind == "id" and owner is not domain.fact:
            entity = owner.name
        elif spec.kind == "fk":
            entity = spec.references
        elif spec.kind == "cat":
            table, group_column = owner.name, key.name
        if entity or table:
            break
    return Threshold(kind, column, op, _literal(literal), entity, table, group_column)


def _tie_key(tree: exp.Expression, domain: Domain) -> tuple[tuple[str, str, str] | None, int]:
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is None or not order.expressions:
        return None, 0
    limit = tree.args.get("limit")
    rows = 3
    if limit is not None and isinstance(limit.expression, exp.Literal):
        rows = int(limit.expression.this) + 1
    first = order.expressions[0].this
    if isinstance(first, exp.Column):
        aliased = {e.alias: e.this for e in tree.expressions if isinstance(e, exp.Alias)}
        if first.name in aliased and not first.table:
            first = aliased[first.name]
    if isinstance(first, exp.Sum) and isinstance(first.this, exp.Column):
        group = tree.args.get("group")
        for key in group.expressions if group is not None else []:
            owner = _table_of(key, domain) if isinstance(key, exp.Column) else None
            if owner is not None and owner is not domain.fact and owner.column(key.name).kind == "id":
                return ("total", owner.name, first.this.name), rows
        return None, 0
    if isinstance(first, exp.Column):
        owner = _table_of(first, domain)
        if owner is not None:
            spec = owner.column(first.name)
            if not spec.unique and spec.kind in ("int", "real", "cat"):
                return ("column", owner.name, first.name), rows
    return None, 0


@functools.lru_cache(maxsize=2048)
def probe_database(domain_name: str, seed: int, gold_sql: str) -> bytes:
    """The serialized probe database for a gold query and variant seed (cached; bytes are immutable)."""
    domain = get_domain(domain_name)
    background, parts = BACKGROUNDS[(seed - PROBE_BASE) % len(BACKGROUNDS)]
    builder = _Builder(domain, random.Random(seed), background, bare_links=parts == ("links",))
    builder.plant(plan(gold_sql, domain_name), parts)
    return builder.serialize()


class _Builder:
    """Rows of one probe database, table by table, with uniqueness tracked per column."""

    def __init__(self, domain: Domain, rng: random.Random, background: database.Profile, bare_links: bool = False) -> None:
        self.domain, self.rng, self.background = domain, rng, background
        # the bare NULL/join database: every nullable column a row does not set is NULL, and every planted row
        # satisfies the query's other comparisons, so an aggregate there sees only NULLs (SUM(x) vs
        # COALESCE(x, 0), COUNT(x) vs COUNT(*)) and an unmatched or dangling row is the only one of its kind
        self.bare_links = bare_links
        self.rows: dict[str, list[list[Any]]] = {}
        sizes: dict[str, int] = {}
        for table in domain.tables:
            lo, hi = background.fact_rows if table is domain.fact else background.entity_rows
            n = rng.randint(lo, hi)
            self.rows[table.name] = [list(r) for r in database._rows(rng, table, n, background, {}, sizes)] if n else []
            sizes[table.name] = n
        self.used: dict[tuple[str, str], set[Any]] = {}
        for table in domain.tables:
            for j, c in enumerate(table.columns):
                if c.unique:
                    self.used[(table.name, c.name)] = {r[j] for r in self.rows[table.name]}

    # --- primitives ---------------------------------------------------------------------------------
    def random_value(self, table: Table, column: Column) -> Any:
        rng = self.rng
        if column.nullable and rng.random() < min(0.6, column.null_rate * 2):
            return None
        for _ in range(100):
            if column.kind == "cat":
                value: Any = rng.choice(column.values)
            elif column.kind == "int":
                value = rng.randint(int(column.lo), int(column.hi))
            elif column.kind == "real":
                value = round(rng.uniform(column.lo, column.hi), 2)
            else:  # name
                pool = database.FIRST if table.name_pool == "person" else database.ADJ
                tail = database.LAST if table.name_pool == "person" else database.NOUN
                value = f"{rng.choice(pool)} {rng.choice(tail)}"
            if not column.unique or value not in self.used[(table.name, column.name)]:
                return value
        raise RuntimeError(f"probe database: no free value for unique column {table.name}.{column.name}")

    def free(self, table: Table, column: Column, value: Any) -> bool:
        return not column.unique or value not in self.used[(table.name, column.name)]

    def add(self, table: Table, values: dict[str, Any]) -> int:
        """Append a row (unset columns random, unique ones fresh); return its id."""
        rows = self.rows[table.name]
        new_id = len(rows) + 1 if not rows else max(r[0] for r in rows) + 1
        row: list[Any] = []
        for c in table.columns:
            if c.kind == "id":
                value: Any = new_id
            elif c.name in values:
                value = values[c.name]
            elif c.kind == "fk":
                value = self.existing(self.domain.table(c.references))
            elif self.bare_links and c.nullable:
                value = None
            else:
                value = self.random_value(table, c)
            if c.unique:
                self.used[(table.name, c.name)].add(value)
            row.append(value)
        rows.append(row)
        return new_id

    def existing(self, table: Table) -> int:
        rows = self.rows[table.name]
        return self.rng.choice(rows)[0] if rows else self.add(table, {})

    def fresh_fact(self, values: dict[str, Any], twin: bool, twin_values: dict[str, Any] | None = None) -> None:
        """A fact row (and maybe its duplicate, `twin_values` overriding) whose entities have no other facts."""
        links = {self.domain.fk(e).name: self.add(e, {}) for e in (self.domain.left, self.domain.right)}
        self.add(self.domain.fact, {**values, **links})
        if twin:
            self.add(self.domain.fact, {**values, **(twin_values or {}), **links})

    def mixed_nulls(self, table: Table, p: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        """Values for a boundary row and its twin: the numeric nullable columns the query does not compare are
        known in the row and NULL in the twin, so an aggregate over the pair sees a NULL next to a value
        (AVG(x) vs SUM(x)/COUNT(*), COUNT(x) vs COUNT(*))."""
        compared = {c.column for c in p.comparisons if c.table == table.name}
        columns = [c for c in table.columns if c.nullable and c.kind in ("int", "real") and c.name not in compared]
        known: dict[str, Any] = {}
        for column in columns:
            for _ in range(20):
                value = self.random_value(table, column)
                if value is not None:
                    known[column.name] = value
                    break
        return known, dict.fromkeys(c.name for c in columns)

    # --- probes -------------------------------------------------------------------------------------
    def plant(self, p: Plan, parts: tuple[str, ...]) -> None:
        # order matters: threshold groups are cleared of other rows, ties sit above every total, and the
        # average row comes last (it must see the final table)
        if "links" in parts:
            self.plant_links(p)
        if "boundary" in parts:
            for comparison in p.comparisons:
                self.plant_comparison(comparison, p)
            for threshold in p.thresholds:
                self.plant_threshold(threshold)
            if p.tie_key is not None:
                self.plant_ties(p.tie_key, p.tie_rows)
        for table, column in p.average_columns:
            self.plant_average(self.domain.table(table), column)

    def context(self, table: Table, p: Plan, skip: str, mode: str = "half") -> dict[str, Any]:
        """Values for the row's other filtered columns: each satisfies its own condition half the time
        (always in the bare NULL/join database); `mode` "all" satisfies every one, "none" fails every one."""
        values: dict[str, Any] = {}
        mode = "all" if self.bare_links else mode
        for other in p.comparisons:
            if (other.table == table.name and other.column != skip and other.column not in values
                    and (mode != "half" or self.rng.random() < 0.5)):
                column = table.column(other.column)
                op = _NEGATE[other.op] if mode == "none" else other.op
                value = _satisfying(column, op, other.value, self.rng)
                if value is not None and self.free(table, column, value):
                    values[other.column] = value
        return values

    def plant_comparison(self, comparison: Comparison, p: Plan) -> None:
        table = self.domain.table(comparison.table)
        column = table.column(comparison.column)
        values = _around(column, comparison.value, self.rng)
        if column.nullable:
            values.append(None)
        # the rows below the literal, at it, above it and NULL each get their own category values (one set
        # per side), so a result that keeps only categories (DISTINCT c ... WHERE x op k) shows a boundary
        # moved by a strictness flip or a shifted literal, whichever side it moves to
        spread = {c.name: self.rng.sample(c.values, len(c.values)) for c in table.of_kind("cat") if c.name != column.name}
        for value in values:
            if value is not None and not self.free(table, column, value):
                continue  # the boundary value is already in the table
            side = _side(value, comparison.value)
            if side == 3 and comparison.op in (">", ">=", "<", "<="):
                side = 0 if comparison.op.startswith(">") else 2  # a NULL row looks like a failing row
            categories = {name: pool[side % len(pool)] for name, pool in spread.items()}
            known, blank = self.mixed_nulls(table, p)
            if table is self.domain.fact:
                self.fresh_fact({**known, **categories, **self.context(table, p, column.name), column.name: value},
                                twin=True, twin_values=blank)
            else:
                # the row meets or fails the query's other conditions as a moved boundary needs to show through
                # INTERSECT / EXCEPT / UNION (`Comparison.others`), and its twin does the opposite
                row = {**known, **categories, **self.context(table, p, column.name, comparison.others), column.name: value}
                self.add(table, row)
                if column.unique and value is not None:
                    continue  # a twin elsewhere in the column would repeat this side's categories past a moved boundary
                opposite = "none" if comparison.others == "all" else "all"
                twin = {**blank, **categories, **self.context(table, p, column.name, opposite), column.name: value}
                self.add(table, {k: v for k, v in twin.items() if self.free(table, table.column(k), v)})

    def plant_threshold(self, t: Threshold) -> None:
        targets = [t.value - 1, t.value, t.value + 1]
        if t.group_entity is not None:
            entity = self.domain.table(t.group_entity)
            fk = self.domain.fk(entity).name
            nullable = [c.name for c in self.domain.fact.columns if c.nullable]
            blank = dict.fromkeys(c.name for c in entity.columns if c.nullable)
            for target in targets:
                # the group's entity is NULL wherever it can be too, so COUNT(e.column) is not COUNT(*)
                owner = self.add(entity, blank)
                if t.agg == "count":
                    counted = t.column if t.column in {c.name for c in self.domain.fact.columns} else None
                    for i in range(max(0, int(target))):
                        # COUNT(*): the group's first fact is NULL wherever it can be, so COUNT(column) is one less
                        known = {counted: self._known(counted)} if counted else ({} if i else dict.fromkeys(nullable))
                        self.add(self.domain.fact, {fk: owner, **known})
                elif t.column is not None:
                    column = self.domain.fact.column(t.column)
                    for value in _pair(column, target):
                        if self.free(self.domain.fact, column, value):
                            self.add(self.domain.fact, {fk: owner, t.column: value})
        elif t.group_table is not None and t.group_column is not None:
            table = self.domain.table(t.group_table)
            group_col = table.column(t.group_column)
            keys = self.rng.sample(group_col.values, min(len(targets), len(group_col.values)))
            self.rows[table.name] = [r for r in self.rows[table.name] if r[_index(table, group_col.name)] not in keys]
            self._renumber(table)
            for key, target in zip(keys, targets):
                if t.agg == "count":
                    for _ in range(max(0, int(target))):
                        self.add(table, {group_col.name: key})
                elif t.column is not None:
                    column = table.column(t.column)
                    # two rows around the target (AVG is the target, SUM twice it) and two NULL ones (AVG skips
                    # them; SUM/COUNT(*) and AVG(COALESCE(x, 0)) fall to half the target); a unique column
                    # takes pairs further apart, so no two groups share a value
                    values: list[Any] = []
                    for spread_out in range(1, 12, 2):
                        values = [v for v in _pair(column, target, spread_out) if self.free(table, column, v)]
                        if len(values) == 2 or not column.unique:
                            break
                    if len(values) < 2:
                        values = [v for v in [_typed(column, target)] if self.free(table, column, v)]
                    for value in values:
                        self.add(table, {group_col.name: key, t.column: value})
                    if column.nullable:
                        for _ in range(2):
                            self.add(table, {group_col.name: key, t.column: None})

    def _known(self, column: str) -> Any:
        spec = self.domain.fact.column(column)
        for _ in range(20):
            value = self.random_value(self.domain.fact, spec)
            if value is not None:
                return value
        return _typed(spec, spec.lo)

    def _renumber(self, table: Table) -> None:
        """Ids 1..n again after rows were removed (fact keys into this table are redrawn in range)."""
        for i, row in enumerate(self.rows[table.name]):
            row[0] = i + 1
        n = len(self.rows[table.name])
        for j, c in enumerate(self.domain.fact.columns):
            if c.references == table.name:
                for row in self.rows[self.domain.fact.name]:
                    if row[j] > n:
                        row[j] = self.existing(table)
        for c in table.columns:
            if c.unique:
                self.used[(table.name, c.name)] = {r[_index(table, c.name)] for r in self.rows[table.name]}

    def plant_ties(self, key: tuple[str, str, str], count: int) -> None:
        kind, table_name, column_name = key
        if kind == "column":
            table = self.domain.table(table_name)
            column = table.column(column_name)
            value = column.values[0] if column.kind == "cat" else _typed(column, column.hi + 1)
            for _ in range(count):
                self.add(table, {column_name: value})
            return
        entity = self.domain.table(table_name)
        fk_index = _index(self.domain.fact, self.domain.fk(entity).name)
        value_index = _index(self.domain.fact, column_name)
        totals: dict[int, float] = {}
        for row in self.rows[self.domain.fact.name]:
            totals[row[fk_index]] = totals.get(row[fk_index], 0) + (row[value_index] or 0)
        spec = self.domain.fact.column(column_name)
        top = _typed(spec, int(max(totals.values(), default=spec.hi)) + 1)
        for _ in range(count):
            owner = self.add(entity, {})
            self.add(self.domain.fact, {self.domain.fk(entity).name: owner, column_name: top})

    def plant_links(self, p: Plan) -> None:
        """NULLs in every nullable column read, entities without facts, facts pointing at no entity."""
        for name in p.tables:
            table = self.domain.table(name)
            for column in table.columns:
                if column.nullable:
                    row = {**self.context(table, p, column.name), column.name: None}
                    if table is self.domain.fact:
                        self.fresh_fact(row, twin=False)
                    else:
                        self.add(table, row)
            nullable = [c.name for c in table.columns if c.nullable]
            if len(nullable) > 1:  # one row NULL everywhere it can be (aggregates over only NULLs)
                row = {**self.context(table, p, ""), **dict.fromkeys(nullable)}
                if table is self.domain.fact:
                    self.fresh_fact(row, twin=False)
                else:
                    self.add(table, row)
        if self.domain.fact.name in p.tables:
            for entity in (self.domain.left, self.domain.right):
                self.add(entity, {})
                dangling = max((r[0] for r in self.rows[entity.name]), default=0) + 7
                self.add(self.domain.fact, {**self.context(self.domain.fact, p, ""), self.domain.fk(entity).name: dangling})
            if self.bare_links and p.limit is not None and p.limit > 1:
                self.few_linked(p.limit - 1)

    def few_linked(self, keep: int) -> None:
        """At most `keep` entities of each kind have facts (their other facts move to them): a top-k over
        a LEFT JOIN then has to show entities without facts."""
        fact_rows = self.rows[self.domain.fact.name]
        for entity in (self.domain.left, self.domain.right):
            j = _index(self.domain.fact, self.domain.fk(entity).name)
            ids = {r[0] for r in self.rows[entity.name]}
            linked = sorted({r[j] for r in fact_rows if r[j] in ids})
            kept = linked[:keep]
            for i, row in enumerate(r for r in fact_rows if r[j] in ids and r[j] not in kept):
                row[j] = kept[i % len(kept)]
            self.add(entity, {})  # and one entity surely without facts

    def plant_average(self, table: Table, column_name: str) -> None:
        """Add a row exactly at the column's average (values moved to exact binary fractions first)."""
        column = table.column(column_name)
        j = _index(table, column_name)
        while sum(r[j] is not None for r in self.rows[table.name]) < 3:
            self.add(table, {column_name: _typed(column, self.rng.uniform(column.lo, column.hi))})
        rows = [r for r in self.rows[table.name] if r[j] is not None]
        scale = 1 if column.kind == "int" else 4  # reals become multiples of 0.25: sums are exact
        if scale != 1:
            seen: set[float] = set()
            for r in rows:
                value = round(r[j] * 4) / 4
                while column.unique and value in seen:
                    value += 0.25
                seen.add(value)
                r[j] = value
        m = len(rows)
        units = sum(round(r[j] * scale) for r in rows)
        shift = (-units) % m
        values = {r[j] for r in rows}
        last = rows[-1]
        candidate = last[j] + shift / scale
        while column.unique and candidate in values - {last[j]}:
            candidate += m / scale
            shift += m
        last[j] = int(candidate) if column.kind == "int" else float(candidate)
        if column.unique:
            self.used[(table.name, column_name)] = {r[j] for r in self.rows[table.name]}
        mean = (units + shift) // m
        value = int(mean) if scale == 1 else mean / scale
        if self.free(table, column, value):
            self.add(table, {column_name: value})

    def serialize(self) -> bytes:
        con = sqlite3.connect(":memory:")
        try:
            con.executescript(self.domain.ddl())
            for table in self.domain.tables:
                marks = ", ".join("?" for _ in table.columns)
                con.executemany(f"INSERT INTO {table.name} VALUES ({marks})", self.rows[table.name])
            con.commit()
            return con.serialize()
        finally:
            con.close()


def _index(table: Table, column: str) -> int:
    return next(i for i, c in enumerate(table.columns) if c.name == column)


def _side(value: Any, literal: Any) -> int:
    """0 below the literal, 1 at it, 2 above it, 3 NULL (strings: 1 equal, 0 other)."""
    if value is None:
        return 3
    if isinstance(literal, str):
        return 1 if value == literal else 0
    return 0 if value < literal else (1 if value == literal else 2)


def _pair(column: Column, target: float, spread_out: int = 1) -> list[Any]:
    """Two values of the column whose average is exactly `target` (an int or a real in 0.25 steps)."""
    d = spread_out * (1 if column.kind == "int" else 0.5)
    low, high = _typed(column, target - d), _typed(column, target + d)
    return [low, high] if low != high else [low]


def _typed(column: Column, value: float) -> Any:
    return int(round(value)) if column.kind == "int" else float(round(value, 2))


def _around(column: Column, literal: Any, rng: random.Random) -> list[Any]:
    """The literal and its nearest neighbours in the column's type."""
    if isinstance(literal, str):
        other = [v for v in column.values if v != literal]
        return [literal] + ([rng.choice(other)] if other else [])
    if column.kind == "int":
        return [int(literal) - 1, int(literal), int(literal) + 1]
    if column.kind == "real":
        return [round(literal + d, 2) for d in (-1, -0.01, 0, 0.01, 1)]
    return []


def _satisfying(column: Column, op: str, literal: Any, rng: random.Random) -> Any:
    """A value of the column for which `value op literal` holds (None when none is easy to find)."""
    if isinstance(literal, str):
        if op == "=":
            return literal
        other = [v for v in column.values if v != literal]
        return rng.choice(other) if other else None
    step = 1 if column.kind == "int" else 0.01
    span = max(step, (column.hi - column.lo) / 4)
    if op in (">", ">="):
        return _typed(column, literal + (0 if op == ">=" else step) + rng.uniform(0, span))
    if op in ("<", "<="):
        return _typed(column, literal - (0 if op == "<=" else step) - rng.uniform(0, span))
    if op == "=":
        return literal
    return _typed(column, literal + span)
