"""A held-out set of near-miss operators, for measuring the verifier only.

Kept apart from the variant builder on purpose: `generator`, `probes` and `database` never import this
module (a test checks it), so the hidden variants cannot be tuned to it. `mutants.py` is the project's own
list, which the generator does use to choose variants; this one is broader and written independently:
strict vs non-strict comparisons, literals shifted by one either way (HAVING thresholds included),
LIMIT k+1 / k-1, COUNT(column) vs COUNT(*), sort direction, a dropped ORDER BY tie-breaker, UNION vs UNION
ALL, an added or dropped DISTINCT, INNER vs LEFT JOIN, and NULL handling (a dropped `OR x IS NULL`, an
added `OR x IS NULL`, AVG vs SUM/COUNT(*), COALESCE inside aggregates, testing another column for NULL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlglot
from sqlglot import exp

from verigym.envs.sql.schemas import Domain

Edit = Callable[[exp.Expression, exp.Expression], bool]  # (tree copy, node in it) -> applied?
_STRICT = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}
_COMPARE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ, exp.NEQ)


def _strictness(_: exp.Expression, node: exp.Expression) -> bool:
    node.replace(_STRICT[type(node)](this=node.this.copy(), expression=node.expression.copy()))
    return True


def _shift(delta: int) -> Edit:
    def edit(_: exp.Expression, node: exp.Expression) -> bool:
        if node.is_string or not isinstance(node.parent, (*_COMPARE, exp.Limit)):
            return False
        if isinstance(node.parent, exp.Limit):
            return False  # LIMIT has its own operator
        text = node.this
        node.replace(exp.Literal.number(float(text) + delta if "." in text else int(text) + delta))
        return True
    return edit


def _limit(delta: int) -> Edit:
    def edit(_: exp.Expression, node: exp.Expression) -> bool:
        value = node.expression
        if not isinstance(value, exp.Literal) or int(value.this) + delta < 1:
            return False
        node.set("expression", exp.Literal.number(int(value.this) + delta))
        return True
    return edit


def _count_star(_: exp.Expression, node: exp.Expression) -> bool:
    if isinstance(node.this, exp.Star) or isinstance(node.this, exp.Distinct):
        return False
    node.set("this", exp.Star())
    return True


def _flip_direction(_: exp.Expression, node: exp.Expression) -> bool:
    node.set("desc", not node.args.get("desc"))
    return True


def _drop_tie_breaker(_: exp.Expression, node: exp.Expression) -> bool:
    if len(node.expressions) < 2:
        return False
    node.set("expressions", node.expressions[:-1])
    return True


def _union_all(_: exp.Expression, node: exp.Expression) -> bool:
    node.set("distinct", not node.args.get("distinct", True))
    return True


def _toggle_distinct(_: exp.Expression, node: exp.Expression) -> bool:
    node.set("distinct", None if node.args.get("distinct") else exp.Distinct())
    return True


def _left_join(_: exp.Expression, node: exp.Expression) -> bool:
    if node.args.get("side"):
        return False
    node.set("side", "LEFT")
    return True


def _drop_null_disjunct(_: exp.Expression, node: exp.Expression) -> bool:
    for side, other in ((node.this, node.expression), (node.expression, node.this)):
        if isinstance(side, exp.Is) and isinstance(side.expression, exp.Null):
            node.replace(other.copy())
            return True
    return False


def _or_null(_: exp.Expression, node: exp.Expression) -> bool:
    column = node.this if isinstance(node.this, exp.Column) else node.expression
    if not isinstance(column, exp.Column) or isinstance(node.parent, exp.Or):
        return False
    node.replace(exp.Paren(this=exp.Or(this=node.copy(), expression=exp.Is(this=column.copy(), expression=exp.Null()))))
    return True


def _avg_over_all_rows(_: exp.Expression, node: exp.Expression) -> bool:
    if not isinstance(node.this, exp.Column):
        return False
    total = exp.Mul(this=exp.Sum(this=node.this.copy()), expression=exp.Literal.number("1.0"))
    node.replace(exp.Div(this=total, expression=exp.Count(this=exp.Star())))
    return True


def _coalesce(_: exp.Expression, node: exp.Expression) -> bool:
    if not isinstance(node.this, exp.Column):
        return False
    node.set("this", exp.Coalesce(this=node.this.copy(), expressions=[exp.Literal.number(0)]))
    return True


Operator = tuple[str, tuple[type[exp.Expression], ...], Edit]
OPERATORS: tuple[Operator, ...] = (
    ("strictness", tuple(_STRICT), _strictness),
    ("literal_plus_1", (exp.Literal,), _shift(+1)),
    ("literal_minus_1", (exp.Literal,), _shift(-1)),
    ("limit_plus_1", (exp.Limit,), _limit(+1)),
    ("limit_minus_1", (exp.Limit,), _limit(-1)),
    ("count_star", (exp.Count,), _count_star),
    ("sort_direction", (exp.Ordered,), _flip_direction),
    ("drop_tie_breaker", (exp.Order,), _drop_tie_breaker),
    ("union_all", (exp.Union,), _union_all),
    ("toggle_distinct", (exp.Select,), _toggle_distinct),
    ("left_join", (exp.Join,), _left_join),
    ("drop_or_null", (exp.Or,), _drop_null_disjunct),
    ("add_or_null", (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NEQ), _or_null),
    ("avg_over_all_rows", (exp.Avg,), _avg_over_all_rows),
    ("coalesce_zero", (exp.Avg, exp.Sum, exp.Min, exp.Max), _coalesce),
)


def nearmiss_mutants(sql: str, domain: Domain | None = None) -> list[tuple[str, str]]:
    """(operator name, SQLite text) of every distinct near miss of `sql` (different text from gold)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    seen = {tree.sql(dialect="sqlite")}
    out: list[tuple[str, str]] = []
    for name, kinds, edit in OPERATORS:
        for text in _apply(tree, kinds, edit):
            if text not in seen:
                seen.add(text)
                out.append((name, text))
    if domain is not None:
        for text in _count_nullable(tree, domain):
            if text not in seen:
                seen.add(text)
                out.append(("count_column", text))
        for text in _null_test_other_column(tree, domain):
            if text not in seen:
                seen.add(text)
                out.append(("null_test_other_column", text))
    return out


def _apply(tree: exp.Expression, kinds: tuple[type[exp.Expression], ...], edit: Edit) -> Iterator[str]:
    total = sum(1 for _ in tree.find_all(*kinds))
    for index in range(total):
        copy = tree.copy()
        node = list(copy.find_all(*kinds))[index]
        if edit(copy, node):
            yield copy.sql(dialect="sqlite")


def _tables(tree: exp.Expression, domain: Domain) -> list[tuple[str, str]]:
    """(alias or name, table name) of every schema table the query reads."""
    names = {t.name for t in domain.tables}
    return [(t.alias_or_name, t.name) for t in tree.find_all(exp.Table) if t.name in names]


def _count_nullable(tree: exp.Expression, domain: Domain) -> Iterator[str]:
    """COUNT(*) -> COUNT(c) for each nullable column c of a table the query reads."""
    for index, node in enumerate(tree.find_all(exp.Count)):
        if not isinstance(node.this, exp.Star):
            continue
        for alias, name in _tables(tree, domain):
            for column in domain.table(name).columns:
                if column.nullable:
                    copy = tree.copy()
                    target = list(copy.find_all(exp.Count))[index]
                    qualifier = alias if alias != name or len(_tables(tree, domain)) > 1 else None
                    target.set("this", exp.column(column.name, table=qualifier))
                    yield copy.sql(dialect="sqlite")


def _null_test_other_column(tree: exp.Expression, domain: Domain) -> Iterator[str]:
    """`t.id IS NULL` (the anti-join test) -> `t.c IS NULL` for a nullable column c of the same table."""
    aliases = dict(_tables(tree, domain))
    for index, node in enumerate(tree.find_all(exp.Is)):
        column = node.this
        if not isinstance(column, exp.Column) or column.name != "id" or column.table not in aliases:
            continue
        for other in domain.table(aliases[column.table]).columns:
            if other.nullable:
                copy = tree.copy()
                target = list(copy.find_all(exp.Is))[index]
                target.this.set("this", exp.to_identifier(other.name))
                yield copy.sql(dialect="sqlite")
