"""Result-set equality as test-suite execution accuracy defines it.

Two results match when they have the same number of columns and, for some reordering of the answer's
columns, the same rows as a multiset (as a list when the gold query orders its rows at top level).
Numbers are normalised before comparison: an integral float equals the integer (3.0 == 3) and other floats
are rounded to `FLOAT_DIGITS` significant digits, a relative tolerance of about 1e-9 that absorbs
summation-order differences (AVG(x) vs SUM(x) * 1.0 / COUNT(x)) without blurring distinct values.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import sqlglot
from sqlglot import exp

from verigym.envs.sql.safety import QueryResult

FLOAT_DIGITS = 9
MAX_PERMUTATIONS = 720
Permutations = frozenset[tuple[int, ...]] | None  # None: every permutation matches (both results empty)


def normalise(value: Any) -> Any:
    """The comparison form of one SQLite value."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ("float", str(value))
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.{FLOAT_DIGITS}g}")
    return value


def _key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))


def canonical(rows: tuple[tuple[Any, ...], ...]) -> list[tuple[Any, ...]]:
    """Rows with every value normalised."""
    return [tuple(normalise(v) for v in row) for row in rows]


def is_ordered(sql: str) -> bool:
    """Whether the query orders its rows at top level (then row order is compared)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return False
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def matching_permutations(gold: QueryResult, answer: QueryResult, ordered: bool) -> Permutations:
    """Column orders `p` (answer column p[j] plays gold column j) under which the answer equals gold."""
    width = len(gold.columns)
    if len(answer.columns) != width or len(answer.rows) != len(gold.rows):
        return frozenset()
    if not gold.rows:
        return None
    g, a = canonical(gold.rows), canonical(answer.rows)
    gold_cols = [sorted((r[j] for r in g), key=_key) for j in range(width)]
    answer_cols = [sorted((r[j] for r in a), key=_key) for j in range(width)]
    options = [[i for i in range(width) if answer_cols[i] == gold_cols[j]] for j in range(width)]
    found: set[tuple[int, ...]] = set()
    gold_rows = g if ordered else Counter(g)
    for perm in itertools.islice(_bijections(options), MAX_PERMUTATIONS):
        moved = [tuple(row[i] for i in perm) for row in a]
        if (moved if ordered else Counter(moved)) == gold_rows:
            found.add(perm)
    return frozenset(found)


def _bijections(options: list[list[int]], prefix: tuple[int, ...] = ()) -> Any:
    if len(prefix) == len(options):
        yield prefix
        return
    for i in options[len(prefix)]:
        if i not in prefix:
            yield from _bijections(options, prefix + (i,))


def results_match(gold: QueryResult, answer: QueryResult, ordered: bool) -> bool:
    """Whether `answer` equals `gold` on one database."""
    perms = matching_permutations(gold, answer, ordered)
    return perms is None or bool(perms)
