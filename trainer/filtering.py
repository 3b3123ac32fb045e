"""Dynamic sampling (DAPO): groups whose episodes all got the same reward carry no gradient and are dropped."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def informative_groups(rewards: Sequence[float], groups: Sequence[Hashable], tol: float = 1e-9) -> set[Hashable]:
    """The group keys whose rewards are not all equal (within `tol`); groups of one are never informative."""
    by_group: dict[Hashable, list[float]] = {}
    for reward, group in zip(rewards, groups, strict=True):
        by_group.setdefault(group, []).append(float(reward))
    return {g for g, values in by_group.items() if len(values) > 1 and max(values) - min(values) > tol}
