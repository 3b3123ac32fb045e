"""VeRPO-style partial credit: failed episodes earn the difficulty-weighted share of the hidden tests they pass.

Wang et al., "VeRPO: Verifiable Dense Reward Policy Optimization for Code Generation" (arXiv 2601.03525):
a dense reward from the sum of difficulty weights of the passed unit tests, each weight estimated online from
execution statistics, combined with the global outcome. Our reading (the weight's exact form is ours): within
a group (episodes of one task this step) with per-test outcomes pass[i, j],

    rho_j = mean_i pass[i, j]                 (the test's empirical pass rate)
    w_j   = 1 - rho_j                         (tests few samples pass weigh most; all-pass tests weigh 0)
    d_i   = sum_j w_j pass[i, j] / sum_j w_j  (the plain pass fraction when every w_j is 0)
    reward += alpha * w_correct * d_i * (1 - correct_i)

so a correct episode keeps its full correctness credit and a failed one earns at most `alpha` of it. Needs
per-test outcomes in the records (`metadata["per_test"]`, recorded from `verdict.details["per_test"]`;
code-python-v0 reports them); episodes without them are left unchanged.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, Stateless, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class VerpoConfig:
    """`alpha`: the most partial credit a failed episode can earn, as a share of the correctness weight (< 1)."""

    alpha: float = 0.5


def dense_credit(outcomes: list[tuple[int, ...]]) -> list[float]:
    """d_i for each episode of one group (all with the same number of tests): see the module docstring."""
    n_tests = len(outcomes[0])
    if n_tests == 0:
        return [0.0] * len(outcomes)
    rates = [sum(o[j] for o in outcomes) / len(outcomes) for j in range(n_tests)]
    weights = [1.0 - r for r in rates]
    total = sum(weights)
    if total <= 0:
        return [sum(o) / n_tests for o in outcomes]
    return [sum(w * o[j] for j, w in enumerate(weights)) / total for o in outcomes]


@SHAPERS.register("verpo")
class Verpo(Stateless):
    """Difficulty-weighted partial credit for failed episodes; stateless (weights come from the step's group)."""

    name = "verpo"

    def __init__(self, config: VerpoConfig, context: ShapingContext) -> None:
        if not 0 <= config.alpha < 1:
            raise ValueError(f"shaping.verpo.alpha must be in [0, 1) (a failure never earns full credit), got {config.alpha}")
        self.config = config
        self.context = context

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        groups: dict[tuple[Any, int], list[int]] = defaultdict(list)
        for i, ep in enumerate(episodes):
            if ep.per_test is not None:
                groups[(ep.group, len(ep.per_test))].append(i)
        out, credits = list(rewards), []
        for members in groups.values():
            for i, d in zip(members, dense_credit([episodes[i].per_test for i in members])):  # type: ignore[misc]
                w_correct, _ = self.context.correctness(episodes[i])
                if not episodes[i].correct:
                    out[i] += self.config.alpha * w_correct * d
                    credits.append(d)
        passed = [sum(ep.per_test) / len(ep.per_test) for ep in episodes if ep.per_test]
        metrics = {
            "with_tests": sum(len(m) for m in groups.values()) / max(len(episodes), 1),
            "failed_credit": mean(credits),
            "mean_pass": mean(passed, empty=math.nan),  # share of hidden tests passed (episodes with tests)
        }
        return ShapeResult(out, metrics)
