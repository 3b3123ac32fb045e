"""Beam task records: supports, loads and the category they were drawn from (data only, no behaviour).

Units are implicit: positions are multiples of the length unit L, point forces multiples of P,
distributed intensities multiples of P/L and applied moments multiples of P*L. Signs follow the
convention stated to the agent: forces positive upward, moments positive counter-clockwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from verigym.envs.task import Task

SUPPORT_LAYOUTS = ("simply_supported", "overhang", "cantilever")
LOADINGS = ("point", "udl", "moment", "mixed")
CATEGORIES = tuple(f"{layout}/{loading}" for layout in SUPPORT_LAYOUTS for loading in LOADINGS)

SUPPORT_KINDS = ("pin", "roller", "fixed")
LOAD_KINDS = ("point", "udl", "moment")


@dataclass(frozen=True)
class Support:
    """A support named `name` (a capital letter) at `x` (in L); `fixed` also resists rotation."""

    name: str
    x: Fraction
    kind: str

    @property
    def unknowns(self) -> tuple[str, ...]:
        """The reactions this support contributes: `R_<name>`, and `M_<name>` if fixed."""
        return (f"R_{self.name}", f"M_{self.name}") if self.kind == "fixed" else (f"R_{self.name}",)


@dataclass(frozen=True)
class Load:
    """One applied load.

    `point`: a force `value` (in P, upward positive) at `start`. `udl`: an intensity `value` (in P/L,
    upward positive) from `start` to `end`. `moment`: a couple `value` (in P*L, counter-clockwise
    positive) at `start`.
    """

    kind: str
    value: Fraction
    start: Fraction
    end: Fraction | None = None

    @property
    def resultant(self) -> Fraction:
        """The load's net vertical force in P (0 for a couple)."""
        if self.kind == "point":
            return self.value
        if self.kind == "udl":
            assert self.end is not None
            return self.value * (self.end - self.start)
        return Fraction(0)

    @property
    def moment_about_origin(self) -> Fraction:
        """The load's moment about x = 0 in P*L, counter-clockwise positive."""
        if self.kind == "point":
            return self.value * self.start
        if self.kind == "udl":
            assert self.end is not None
            return self.resultant * (self.start + self.end) / 2
        return self.value


@dataclass(frozen=True)
class BeamTask(Task):
    """A statically determinate beam: length (in L), its supports and loads, and its category.

    Construction validates the geometry, so a hand-edited or corrupted record fails loudly here.
    """

    category: str
    length: Fraction
    supports: tuple[Support, ...]
    loads: tuple[Load, ...]

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError(f"invalid beam task {self.task_id!r}: " + "; ".join(problems))

    @property
    def unknowns(self) -> tuple[str, ...]:
        """Every reaction the agent must give, in prompt order (e.g. `("R_A", "R_B")`)."""
        return tuple(name for support in self.supports for name in support.unknowns)

    @property
    def layout(self) -> str:
        """The support layout part of the category (`simply_supported`, `overhang`, `cantilever`)."""
        return self.category.split("/")[0]


def is_moment(unknown: str) -> bool:
    """Whether a reaction name denotes a moment (answered in P*L) rather than a force (in P)."""
    return unknown.startswith("M_")


def _problems(task: BeamTask) -> list[str]:
    problems: list[str] = []
    if task.category not in CATEGORIES:
        problems.append(f"category {task.category!r} is not one of {list(CATEGORIES)}")
    if task.length <= 0:
        problems.append(f"length must be positive, got {task.length}")
    names = [s.name for s in task.supports]
    if len(set(names)) != len(names):
        problems.append(f"support names {names} repeat")
    for s in task.supports:
        if s.kind not in SUPPORT_KINDS:
            problems.append(f"support {s.name} has kind {s.kind!r}, not one of {list(SUPPORT_KINDS)}")
        if not 0 <= s.x <= task.length:
            problems.append(f"support {s.name} at x={s.x} lies off the beam [0, {task.length}]")
    kinds = sorted(s.kind for s in task.supports)
    if kinds == ["fixed"]:
        if task.supports[0].x not in (0, task.length):
            problems.append("a fixed support must sit at an end of the beam")
    elif kinds == ["pin", "roller"]:
        if task.supports[0].x == task.supports[1].x:
            problems.append("the two supports must be at different positions")
    else:
        problems.append(f"supports must be one fixed end or a pin and a roller (statically determinate), got {kinds}")
    if not task.loads:
        problems.append("a beam needs at least one load")
    for i, load in enumerate(task.loads):
        if load.kind not in LOAD_KINDS:
            problems.append(f"load {i} has kind {load.kind!r}, not one of {list(LOAD_KINDS)}")
        if not 0 <= load.start <= task.length:
            problems.append(f"load {i} starts at x={load.start}, off the beam [0, {task.length}]")
        if (load.kind == "udl") != (load.end is not None):
            problems.append(f"load {i}: exactly the udl loads have an end position")
        elif load.end is not None and not load.start < load.end <= task.length:
            problems.append(f"load {i} must span start < end <= {task.length}, got [{load.start}, {load.end}]")
    return problems
