"""Procedural beam tasks: every task is a pure function of (seed, allowed categories, length range).

A category is `<layout>/<loading>`, e.g. `overhang/point`. Categories can be selected or held out by full
name, by layout (`overhang`) or by loading (`udl`), so a split can hold out moved supports entirely.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from fractions import Fraction

from verigym.envs.beam_statics.ground_truth import solve_equilibrium
from verigym.envs.beam_statics.task import CATEGORIES, LOAD_KINDS, LOADINGS, SUPPORT_LAYOUTS, BeamTask, Load, Support

DEFAULT_LENGTHS = (2, 8)
LOAD_COUNTS = {"point": (1, 4), "udl": (1, 2), "moment": (1, 3), "mixed": (2, 4)}


def select_categories(include: Iterable[str] = (), exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """The categories matching any `include` selector (all if none) and no `exclude` selector.

    A selector is a full category (`overhang/point`), a layout (`overhang`) or a loading (`udl`).
    Raises ValueError naming the valid selectors on an unknown one, or if nothing is left.
    """
    include, exclude = tuple(include), tuple(exclude)
    known = set(CATEGORIES) | set(SUPPORT_LAYOUTS) | set(LOADINGS)
    unknown = sorted(s for s in include + exclude if s not in known)
    if unknown:
        raise ValueError(
            f"unknown beam category selector(s) {unknown}; use a category {list(CATEGORIES)}, "
            f"a layout {list(SUPPORT_LAYOUTS)} or a loading {list(LOADINGS)}"
        )
    chosen = tuple(
        c for c in CATEGORIES if (not include or any(_matches(s, c) for s in include)) and not any(_matches(s, c) for s in exclude)
    )
    if not chosen:
        raise ValueError(f"categories={list(include)} minus exclude_categories={list(exclude)} leaves no category to draw from")
    return chosen


def generate_task(
    seed: int, categories: Iterable[str] = CATEGORIES, lengths: tuple[int, int] = DEFAULT_LENGTHS, max_loads: int | None = None
) -> BeamTask:
    """The task for `seed`: a category drawn from `categories`, then the beam drawn within it."""
    pool = tuple(categories)
    if not pool:
        raise ValueError("generate_task needs at least one category")
    category = pool[random.Random(seed).randrange(len(pool))]
    return generate_in_category(category, seed, lengths, max_loads)


def generate_in_category(category: str, seed: int, lengths: tuple[int, int] = DEFAULT_LENGTHS, max_loads: int | None = None) -> BeamTask:
    """The beam for (`category`, `seed`): the same whatever other categories are allowed.

    `max_loads` caps the number of loads (never below the loading's minimum: `mixed` keeps 2); an easier
    curriculum for small models. A capped task's id ends in `/max<k>`."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of {list(CATEGORIES)}")
    low, high = lengths
    if not 2 <= low <= high:
        raise ValueError(f"beam lengths must satisfy 2 <= min <= max (in units of L), got {lengths}")
    if max_loads is not None and max_loads < 1:
        raise ValueError(f"max_loads must be at least 1 (or None), got {max_loads}")
    suffix = ("" if lengths == DEFAULT_LENGTHS else f"/len{low}-{high}") + ("" if max_loads is None else f"/max{max_loads}")
    task_id = f"{category}/{seed}{suffix}"
    rng = random.Random(f"beam-statics/{task_id}")
    layout, loading = category.split("/")
    length = Fraction(rng.randint(low, high))
    supports = _supports(rng, layout, int(length))
    while True:  # redraw the (rare) load sets that need no reaction at all: "all zero" must never be right
        task = BeamTask(task_id, seed, category, length, supports, _loads(rng, loading, int(length), max_loads))
        if any(solve_equilibrium(task).values()):
            return task


def _matches(selector: str, category: str) -> bool:
    return selector == category or selector in category.split("/")


def _supports(rng: random.Random, layout: str, n: int) -> tuple[Support, ...]:
    if layout == "cantilever":
        return (Support("A", Fraction(0 if rng.random() < 0.7 else n), "fixed"),)
    if layout == "simply_supported":
        a, b = 0, n
    else:  # overhang: at least one support moved inward
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n + 1) if (a, b) != (0, n)]
        a, b = rng.choice(pairs)
    return (Support("A", Fraction(a), "pin"), Support("B", Fraction(b), "roller"))


def _loads(rng: random.Random, loading: str, n: int, max_loads: int | None = None) -> tuple[Load, ...]:
    low, high = LOAD_COUNTS[loading]
    if max_loads is not None:
        high = max(low, min(high, max_loads))
    count = rng.randint(low, high)
    if loading == "mixed":
        kinds = [rng.choice(LOAD_KINDS) for _ in range(count)]
        if len(set(kinds)) < 2:
            i = rng.randrange(count)
            kinds[i] = rng.choice([k for k in LOAD_KINDS if k != kinds[i]])
    else:
        kinds = [loading] * count
    return tuple(_load(rng, kind, n) for kind in kinds)


def _load(rng: random.Random, kind: str, n: int) -> Load:
    if kind == "point":
        sign = 1 if rng.random() < 0.15 else -1
        return Load("point", Fraction(sign * rng.randint(1, 5)), Fraction(rng.randint(0, n)))
    if kind == "udl":
        start = rng.randint(0, n - 1)
        return Load("udl", Fraction(-rng.randint(1, 3)), Fraction(start), Fraction(rng.randint(start + 1, n)))
    return Load("moment", Fraction(rng.choice((-1, 1)) * rng.randint(1, 5)), Fraction(rng.randint(0, n)))
