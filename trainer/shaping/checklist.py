"""CM2-style checklist rewards: per-turn binary criteria with evidence, declared by the env, as sparse turn rewards.

Zhang et al., "CM2: Reinforcement Learning with Checklist Rewards for Multi-Turn and Multi-Step Agentic Tool
Use" (arXiv 2602.12268): each turn's intended behaviour is split into binary criteria with explicit evidence;
rewards are assigned sparsely (one per turn) while the criteria are dense. An env declares a turn's criteria in
`TurnResult.info["checklist"]` ({"name", "passed", "evidence", optional "weight"}; beam-statics-v0 does, see its
README). Our reading of the assignment and balancing: a turn t with criteria c_k (weights w_k) scores

    s_t = sum_k w_k [c_k passed] / sum_k w_k                 (mode "fraction"; mode "all": s_t = 1 iff every c_k)

and, with T the episode's turns that have criteria and w_correct the correctness weight, turn t earns

    r_t = alpha * w_correct * s_t / T,      C = sum_t r_t = alpha * w_correct * mean_t s_t  in [0, alpha * w_correct]

placed on turn t itself (turn-level estimators see when it was earned). With alpha < 1 the checklist total can
never outweigh the outcome: a failed episode with every criterion met earns less than a correct one with none,
and dividing by T keeps extra checklisted turns (e.g. repeated tool calls) from farming reward.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, Stateless, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class ChecklistConfig:
    """`alpha`: the checklist's most, as a share of the correctness weight (< 1); `mode`: "fraction" or "all"."""

    alpha: float = 0.5
    mode: str = "fraction"


def turn_score(criteria: tuple[tuple[str, bool, float], ...], mode: str = "fraction") -> float:
    """s_t of one turn's (name, passed, weight) criteria (module docstring)."""
    if mode == "all":
        return float(all(passed for _, passed, _ in criteria))
    total = sum(w for _, _, w in criteria)
    return sum(w for _, passed, w in criteria if passed) / total if total > 0 else 0.0


@SHAPERS.register("checklist")
class Checklist(Stateless):
    """Per-turn checklist rewards, balanced against the outcome; episodes without criteria are unchanged."""

    name = "checklist"

    def __init__(self, config: ChecklistConfig, context: ShapingContext) -> None:
        if not 0 <= config.alpha < 1:
            raise ValueError(f"shaping.checklist.alpha must be in [0, 1) (the checklist may not outweigh the outcome), got {config.alpha}")
        if config.mode not in ("fraction", "all"):
            raise ValueError(f"shaping.checklist.mode must be 'fraction' or 'all', got {config.mode!r}")
        self.config = config
        self.context = context

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        out, placed, totals, scores = list(rewards), [], [], []
        passes: dict[str, list[float]] = defaultdict(list)
        for i, ep in enumerate(episodes):
            turn_deltas: dict[int, float] = {}
            if ep.checklist:
                w_correct, _ = self.context.correctness(ep)
                scale = self.config.alpha * w_correct / len(ep.checklist)
                for t, criteria in ep.checklist.items():
                    s = turn_score(criteria, self.config.mode)
                    turn_deltas[t] = scale * s
                    scores.append(s)
                    for name, passed, _ in criteria:
                        passes[name].append(float(passed))
                out[i] += sum(turn_deltas.values())
                totals.append(sum(turn_deltas.values()))
            placed.append(turn_deltas)
        metrics = {
            "with_checklist": len(totals) / max(len(episodes), 1),
            "turn_score": mean(scores, empty=math.nan),
            "reward": mean(totals),
            **{f"pass/{name}": mean(v) for name, v in sorted(passes.items())},
        }
        return ShapeResult(out, metrics, placed)
