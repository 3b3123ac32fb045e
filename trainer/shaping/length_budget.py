"""Length-budget curriculum ("Train Long, Think Short"): a generous token budget tightened on a schedule,
with a length-efficiency reward relative to the current budget.

Hammoud et al., "Train Long, Think Short: Curriculum Learning for Efficient Reasoning" (arXiv 2508.08940).
The budget at training step t (1-based) follows the paper's schedules:

    exponential: B(t) = max(final, initial * decay ** floor((t - 1) / interval))
    linear:      B(t) = initial - (initial - final) * min(1, (t - 1) / decay_steps)

The paper names the length term only as "length efficiency" against the budget; here (our reading) a response
of L policy tokens earns, when correct,

    r_len = 1                            if L <= B
    r_len = max(0, 1 - (L - B) / B)      otherwise (0 from twice the budget)

and 0 when wrong (length is never rewarded on a wrong answer); reward += weight * r_len. The env's own
components (format, correctness) stay in the reward: this term composes with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, Stateless, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class LengthBudgetConfig:
    """Budget schedule (`exponential` or `linear`) from `initial` down to `final` tokens; `decay` and
    `interval` (exponential) or `decay_steps` (linear); `weight` of the length-efficiency reward."""

    schedule: str = "exponential"
    initial: int = 256
    final: int = 32
    decay: float = 0.5
    interval: int = 50
    decay_steps: int = 200
    weight: float = 0.5

    def __post_init__(self) -> None:
        if self.schedule not in ("exponential", "linear"):
            raise ValueError(f"shaping.length_budget.schedule must be 'exponential' or 'linear', got {self.schedule!r}")
        if not (1 <= self.final <= self.initial):
            raise ValueError(f"shaping.length_budget needs 1 <= final <= initial, got final={self.final}, initial={self.initial}")
        if self.interval < 1 or self.decay_steps < 1 or not (0 < self.decay <= 1):
            raise ValueError("shaping.length_budget: interval and decay_steps must be >= 1 and decay in (0, 1]")


def budget_at(config: LengthBudgetConfig, step: int) -> float:
    """The token budget B(step) of the schedule (step counts from 1)."""
    t = max(step - 1, 0)
    if config.schedule == "linear":
        return config.initial - (config.initial - config.final) * min(1.0, t / config.decay_steps)
    return max(float(config.final), config.initial * config.decay ** math.floor(t / config.interval))


def length_efficiency(length: int, budget: float, correct: bool) -> float:
    """r_len for one response (see the module docstring)."""
    if not correct:
        return 0.0
    if length <= budget:
        return 1.0
    return max(0.0, 1.0 - (length - budget) / budget)


@SHAPERS.register("length_budget")
class LengthBudget(Stateless):
    """Adds `weight * r_len(L, B(step))`; stateless (the budget is a function of the step, so resume is exact)."""

    name = "length_budget"

    def __init__(self, config: LengthBudgetConfig, context: ShapingContext) -> None:
        self.config = config

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        budget = budget_at(self.config, step)
        bonus = [length_efficiency(ep.length, budget, ep.correct) for ep in episodes]
        metrics = {
            "budget": budget,
            "length_reward": mean(bonus),
            "over_budget": mean([float(ep.length > budget) for ep in episodes]),
            "correct_length": mean([float(ep.length) for ep in episodes if ep.correct], empty=math.nan),
        }
        return ShapeResult([r + self.config.weight * b for r, b in zip(rewards, bonus)], metrics)
