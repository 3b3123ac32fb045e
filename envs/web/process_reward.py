"""The process-reward hook: a step judge scores each turn into that turn's reward (off by default).

A judge implements `StepJudge`: `reset(task)` at episode start and `score(context) -> float` after every
non-final turn. A WebArbiter-style model judge fits the same interface (it reads `context.observation` and
`context.action`). The built-in `ProgressJudge` is rule-based: it rewards the change in progress toward the
goal's state (potential-based shaping, so the per-episode sum is bounded by `weight` and cannot be farmed by
undoing and redoing a step).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from verigym.envs.web.state import Snapshot, diff
from verigym.envs.web.task import WebTask
from verigym.envs.web.verifier import _state_goal, _webshop_score


@dataclass(frozen=True)
class StepContext:
    """What a judge sees after one turn: the task, the action, the new observation and the database."""

    task: WebTask
    turn: int
    action: str
    observation: str
    seeded: Snapshot
    state: Snapshot
    cart: tuple[dict[str, Any], ...]


class StepJudge(Protocol):
    """Scores each step of an episode; the float is added to that step's reward."""

    def reset(self, task: WebTask) -> None: ...
    def score(self, context: StepContext) -> float: ...


class ProgressJudge:
    """Reward = `weight` x (progress after the step - progress before), progress in [0, 1]:
    state goals: share of required changes made (0 with any unrelated change); purchases: WebShop score of
    the best cart line (half) or of the placed order (full); look-ups: share of gold values on the page."""

    def __init__(self, weight: float = 0.1) -> None:
        self.weight = weight
        self.previous = 0.0

    def reset(self, task: WebTask) -> None:
        self.previous = 0.0

    def score(self, context: StepContext) -> float:
        now = progress(context)
        delta, self.previous = now - self.previous, now
        return self.weight * delta


def progress(context: StepContext) -> float:
    """Progress toward the goal in [0, 1] (see `ProgressJudge`)."""
    task = context.task
    if task.purchase is not None:
        changes = diff(context.seeded, context.state)
        items = changes.inserted.get("order_items", {})
        if items:
            return max(_webshop_score(task.purchase, context.seeded, row) for row in items.values())
        lines = [row for row in context.cart if row["user_id"] == task.user_id]
        return 0.5 * max((_webshop_score(task.purchase, context.seeded, {**row, "price_cents": _price(context, row)})
                          for row in lines), default=0.0)
    if task.updates or task.inserts:
        _, share = _state_goal(task, diff(context.seeded, context.state), {})
        return share
    shown = [value for value in task.answer if value in context.observation]
    return len(shown) / len(task.answer) if task.answer else 0.0


def _price(context: StepContext, row: dict[str, Any]) -> int:
    product = context.seeded["products"].get(row["product_id"])
    return product["price_cents"] if product else 1 << 40


def make_judge(spec: str, weight: float) -> StepJudge | None:
    """`""` -> None (off), `"progress"` -> `ProgressJudge(weight)`, `"pkg.module:factory"` -> factory(weight)."""
    if not spec:
        return None
    if spec == "progress":
        return ProgressJudge(weight)
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"step_judge must be '', 'progress' or 'module:factory', got {spec!r}")
    return getattr(importlib.import_module(module), name)(weight)
