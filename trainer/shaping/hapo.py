"""HAPO: a length reward relative to the shortest correct response seen so far on the same problem.

Huang, Zhang & Cardie, "HAPO: Training Language Models to Reason Concisely via History-Aware Policy
Optimization" (arXiv 2505.11225; reference code github.com/HCY123902/HAPO). Per problem i the history
h_i is the minimum length of the correct responses of *earlier* steps (none until one is correct). A response
of length l gets

    f = cos(min(l / h_i, 2) * pi / 2)          (1 at l = 0, 0 at l = h_i, -1 from l = 2 h_i)
    r_len = max(f, floor_correct)  if correct     (floor_correct = -0.7: a correct answer never drops below
                                                   a wrong one)
    r_len = min(f, 0)              if wrong       (a short wrong answer is never rewarded for being short)
    r_len = 0                      if h_i is none
    reward += weight * r_len

After scoring, h_i <- min(h_i, shortest correct length of this step). The histories are checkpointed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class HapoConfig:
    """`weight` of the length reward (the paper's w = 1); `floor_correct` lower-bounds it on correct answers."""

    weight: float = 1.0
    floor_correct: float = -0.7


def hapo_length_reward(length: int, history: float | None, correct: bool, floor_correct: float = -0.7) -> float:
    """HAPO's r_len for one response (see the module docstring)."""
    if history is None or history <= 0:
        return 0.0
    f = math.cos(min(length / history, 2.0) * math.pi / 2)
    return max(f, floor_correct) if correct else min(f, 0.0)


@SHAPERS.register("hapo")
class Hapo:
    """History-aware length reward; `history` maps problem -> minimum correct length seen in earlier steps."""

    name = "hapo"

    def __init__(self, config: HapoConfig, context: ShapingContext) -> None:
        self.config = config
        self.history: dict[str, int] = {}

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        cfg = self.config
        bonus = [hapo_length_reward(ep.length, self.history.get(ep.problem), ep.correct, cfg.floor_correct) for ep in episodes]
        with_history = sum(ep.problem in self.history for ep in episodes)
        for ep in episodes:
            if ep.correct and ep.length > 0 and ep.length < self.history.get(ep.problem, math.inf):
                self.history[ep.problem] = ep.length
        correct_lengths = [float(ep.length) for ep in episodes if ep.correct]
        metrics = {
            "length_reward": mean(bonus),
            "correct_length": mean(correct_lengths, empty=math.nan),
            "with_history": with_history / max(len(episodes), 1),
            "problems": float(len(self.history)),
        }
        return ShapeResult([r + cfg.weight * b for r, b in zip(rewards, bonus)], metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"history": dict(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {str(k): int(v) for k, v in state.get("history", {}).items()}
