"""Rewards as named, weighted components, composed like a small module tree.

A `Rubric` holds `Criterion`s. Each criterion scores an outcome in [0, 1]; a criterion may be gated on an
earlier one ("only if `correct` passed"). The reward is the weighted sum of every criterion's value, and every
value is reported, so trainers can use the total or each component.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ScoreFn = Callable[[Any], float]


class RubricMismatchError(ValueError):
    """A verdict's component names differ from the ones its rubric reads: a bug in the env, never a drop."""


@dataclass(frozen=True)
class Criterion:
    """One named reward component: `fn(outcome) -> [0, 1]`, its weight, and an optional gate."""

    name: str
    weight: float
    fn: ScoreFn
    only_if: str | None = None
    description: str = ""


class Rubric:
    """An ordered set of criteria; `score(outcome)` returns (reward, components)."""

    def __init__(self, criteria: Iterable[Criterion] = ()) -> None:
        self._criteria: list[Criterion] = []
        for criterion in criteria:
            self.add(criterion)

    @classmethod
    def from_verdict(cls, weights: Mapping[str, float], only_if: Mapping[str, str] | None = None) -> Rubric:
        """A rubric whose criterion `name` is `verdict.components[name]`, weighted, optionally gated."""
        gates = dict(only_if or {})
        return cls(Criterion(name, w, _Component(name), gates.get(name)) for name, w in weights.items())

    def add(self, criterion: Criterion) -> Criterion:
        """Append a criterion; names are unique and a gate must name an earlier criterion."""
        names = [c.name for c in self._criteria]
        if criterion.name in names:
            raise ValueError(f"rubric already has a criterion named {criterion.name!r}")
        if criterion.only_if is not None and criterion.only_if not in names:
            raise ValueError(
                f"criterion {criterion.name!r} is gated on {criterion.only_if!r}, which is not an earlier "
                f"criterion (have: {names})"
            )
        self._criteria.append(criterion)
        return criterion

    def criterion(
        self, weight: float, *, name: str | None = None, only_if: str | None = None
    ) -> Callable[[ScoreFn], ScoreFn]:
        """Decorator: register `fn(outcome) -> float` as a weighted criterion named after the function."""

        def register(fn: ScoreFn) -> ScoreFn:
            self.add(Criterion(name or fn.__name__, weight, fn, only_if, (fn.__doc__ or "").strip()))
            return fn

        return register

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """The criteria in evaluation order."""
        return tuple(self._criteria)

    @property
    def names(self) -> tuple[str, ...]:
        """Component names, in order: the `reward_<name>` columns of episode records."""
        return tuple(c.name for c in self._criteria)

    @property
    def weights(self) -> dict[str, float]:
        """Each component's weight."""
        return {c.name: c.weight for c in self._criteria}

    @property
    def verdict_names(self) -> frozenset[str]:
        """The names this rubric reads from `verdict.components` (criteria built by `from_verdict`)."""
        return frozenset(c.fn.name for c in self._criteria if isinstance(c.fn, _Component))

    def check_components(self, components: Mapping[str, float]) -> None:
        """Raise `RubricMismatchError` naming both sets when `components` lacks a name the rubric reads or
        carries one it does not know."""
        wanted = self.verdict_names
        if not wanted:
            return
        have = frozenset(components)
        if have != wanted:
            raise RubricMismatchError(
                f"the verdict's components {sorted(have)} differ from the rubric's {sorted(wanted)} "
                f"(missing: {sorted(wanted - have)}, unknown: {sorted(have - wanted)}); make the verifier and "
                "build_rubric() agree"
            )

    def score(self, outcome: Any) -> tuple[float, dict[str, float]]:
        """Evaluate every criterion on `outcome`; return (weighted sum, {name: value})."""
        if hasattr(outcome, "components"):
            self.check_components(outcome.components)
        values: dict[str, float] = {}
        for c in self._criteria:
            if c.only_if is not None and values[c.only_if] < 1.0:
                values[c.name] = 0.0
                continue
            value = float(c.fn(outcome))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"criterion {c.name!r} returned {value}, outside [0, 1]")
            values[c.name] = value
        return self.total(values), values

    def total(self, values: Mapping[str, float]) -> float:
        """Weighted sum of component values."""
        return float(sum(c.weight * values.get(c.name, 0.0) for c in self._criteria))

    def zeros(self) -> dict[str, float]:
        """Every component at 0 (the value of a turn that ends nothing)."""
        return {c.name: 0.0 for c in self._criteria}


@dataclass(frozen=True)
class _Component:
    """Reads `verdict.components[name]` (a class, not a closure, so rubrics and envs pickle)."""

    name: str

    def __call__(self, verdict: Any) -> float:
        return float(verdict.components[self.name])
