"""Near-miss mutants of a gold query: the mistakes the hidden variants must catch.

Each mutation edits one node of the sqlglot tree (drop a WHERE, flip a comparison, drop DISTINCT, join on
the wrong key, ...). Used by the generator to pick variants that separate gold from its mutants, and by
the tests to measure how often they do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlglot
from sqlglot import exp

_FLIP = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}
_AGG = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Avg: exp.Sum, exp.Sum: exp.Avg}
_SETOP = {exp.Intersect: exp.Except, exp.Except: exp.Intersect, exp.Union: exp.Intersect}


def _drop_where(node: exp.Expression) -> None:
    node.pop()


def _flip_comparison(node: exp.Expression) -> None:
    node.replace(_FLIP[type(node)](this=node.this.copy(), expression=node.expression.copy()))


def _drop_distinct(node: exp.Expression) -> None:
    node.set("distinct", None)


def _wrong_join_key(node: exp.Expression) -> None:
    on = node.args.get("on")
    if isinstance(on, exp.EQ) and isinstance(on.expression, exp.Column) and isinstance(on.this, exp.Column):
        target = on.expression if on.expression.name != "id" else on.this
        target.set("this", exp.to_identifier("id"))


def _left_join(node: exp.Expression) -> None:
    node.set("side", "LEFT")


def _swap_aggregate(node: exp.Expression) -> None:
    node.replace(_AGG[type(node)](this=node.this.copy()))


def _shift_literal(node: exp.Expression) -> None:
    if not node.is_string:
        node.replace(exp.Literal.number(float(node.this) + 1 if "." in node.this else int(node.this) + 1))


def _swap_set_op(node: exp.Expression) -> None:
    node.replace(_SETOP[type(node)](this=node.this.copy(), expression=node.expression.copy(), distinct=True))


def _drop_node(node: exp.Expression) -> None:
    node.pop()


def _flip_order(node: exp.Expression) -> None:
    node.set("desc", not node.args.get("desc"))


def _negate(node: exp.Expression) -> None:
    if isinstance(node.parent, exp.Not):
        node.parent.replace(node.copy())
    else:
        node.replace(exp.Not(this=node.copy()))


MUTATIONS: tuple[tuple[str, tuple[type[exp.Expression], ...], Callable[[exp.Expression], None]], ...] = (
    ("drop_where", (exp.Where,), _drop_where),
    ("flip_comparison", tuple(_FLIP), _flip_comparison),
    ("drop_distinct", (exp.Select,), _drop_distinct),
    ("wrong_join_key", (exp.Join,), _wrong_join_key),
    ("left_join", (exp.Join,), _left_join),
    ("swap_aggregate", tuple(_AGG), _swap_aggregate),
    ("shift_literal", (exp.Literal,), _shift_literal),
    ("swap_set_op", tuple(_SETOP), _swap_set_op),
    ("drop_having", (exp.Having,), _drop_node),
    ("drop_limit", (exp.Limit,), _drop_node),
    ("flip_order", (exp.Ordered,), _flip_order),
    ("negate", (exp.Is, exp.Exists, exp.In), _negate),
)


def mutants(sql: str, per_kind: int = 2) -> list[tuple[str, str]]:
    """(mutation name, SQLite text) of every distinct near-miss of `sql`, at most `per_kind` per mutation."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    seen = {tree.sql(dialect="sqlite")}
    out: list[tuple[str, str]] = []
    for name, kinds, mutate in MUTATIONS:
        count = 0
        for text in _apply(tree, kinds, mutate):
            if text not in seen and count < per_kind:
                seen.add(text)
                out.append((name, text))
                count += 1
    return out


def _apply(tree: exp.Expression, kinds: tuple[type[exp.Expression], ...], mutate: Callable[[exp.Expression], None]) -> Iterator[str]:
    total = sum(1 for _ in tree.find_all(*kinds))
    for index in range(total):
        copy = tree.copy()
        node = list(copy.find_all(*kinds))[index]
        if isinstance(node, exp.Select) and not node.args.get("distinct"):
            continue
        if isinstance(node, exp.Literal) and not isinstance(node.parent, (exp.Limit, *_FLIP)):
            continue
        mutate(node)
        yield copy.sql(dialect="sqlite")
