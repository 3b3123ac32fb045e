"""OTC: correctness scaled by tool-call efficiency relative to the fewest calls that solved the problem.

Wang et al., "OTC: Optimal Tool Calls via Reinforcement Learning" / "Acting Less is Reasoning More"
(arXiv 2504.14870), the OTC-GRPO reward. Per problem, n is the fewest tool calls of any correct episode seen
so far (this step included); an episode with m calls gets

    r_tool = 1                                    if m = n = 0
    r_tool = cos(m * pi / (2m + c))               if n = 0 (or no correct episode yet: n unknown, taken as 0)
    r_tool = sin(f(m, n) * pi / (2n)),  f(m, n) = 2nm / (m + n)    otherwise (1 at m = n, -> 0 as m -> inf)

and the correctness part of its reward (the rubric's correct component x its weight, or success) is scaled:
reward += weight * (alpha * r_tool - 1) * w_correct * correct (weight 1: the correctness part becomes
alpha * r_tool * w_correct * correct). Other components are untouched. n is checkpointed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class OtcConfig:
    """`c` smooths the decay when the optimum is 0 calls; `alpha` scales the tool reward (the paper's alpha);
    `weight` 0 leaves the reward alone (metrics only: a baseline)."""

    c: float = 1.0
    alpha: float = 1.0
    weight: float = 1.0


def tool_reward(m: int, n: int | None, c: float = 1.0) -> float:
    """OTC-GRPO's r_tool(m, n) (see the module docstring); `n` None means no correct episode seen yet."""
    n = 0 if n is None else n
    if n == 0:
        return 1.0 if m == 0 else math.cos(m * math.pi / (2 * m + c))
    f = 2 * n * m / (m + n)
    return math.sin(f * math.pi / (2 * n))


@SHAPERS.register("otc")
class Otc:
    """Tool-efficiency-scaled correctness; `fewest` maps problem -> fewest tool calls of a correct episode."""

    name = "otc"

    def __init__(self, config: OtcConfig, context: ShapingContext) -> None:
        self.config = config
        self.context = context
        self.fewest: dict[str, int] = {}

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        for ep in episodes:
            if ep.correct and ep.tool_calls < self.fewest.get(ep.problem, math.inf):
                self.fewest[ep.problem] = ep.tool_calls
        out, scales = [], []
        for ep, r in zip(episodes, rewards):
            scale = self.config.alpha * tool_reward(ep.tool_calls, self.fewest.get(ep.problem), self.config.c)
            w_correct, value = self.context.correctness(ep)
            out.append(r + self.config.weight * (scale - 1.0) * w_correct * value)
            scales.append(scale)
        calls = [float(ep.tool_calls) for ep in episodes]
        n_correct = sum(ep.correct for ep in episodes)
        metrics = {
            "tool_calls": mean(calls),
            "tool_reward": mean(scales),
            "correct_tool_calls": mean([float(ep.tool_calls) for ep in episodes if ep.correct], empty=math.nan),
            # the paper's tool productivity: correct answers per tool call
            "productivity": n_correct / sum(calls) if sum(calls) else float(n_correct > 0),
        }
        return ShapeResult(out, metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"fewest": dict(self.fewest)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fewest = {str(k): int(v) for k, v in state.get("fewest", {}).items()}
