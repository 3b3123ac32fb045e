"""RLCR: a calibration reward from the confidence the agent states with its answer.

Damani et al., "Beyond Binary Rewards: Training LMs to Reason About Their Uncertainty" (arXiv 2507.16806).
The agent ends its final turn with `<confidence>q</confidence>`, q in [0, 1] (a number; a trailing `%` is read
as a percentage). RLCR's reward is correctness minus the Brier score, R = c - (q - c)^2 with c in {0, 1}; the
env's reward already holds the correctness part, so this adds

    reward += weight * (-(q - c)^2)                 (c = the verifier's binary outcome)
    reward += weight * (-missing_penalty)           when no readable confidence is stated

Envs that read the shared `<answer>` format (`verigym.envs.actions.parse_action`) ignore text outside the
answer, so the tag does not change their verdict; the env's prompt (or a system message) must ask for it.
The Brier term is a proper scoring rule: its expectation is maximised by stating the true probability of being
right. Metrics: `brier` (mean (q - c)^2 over stated confidences), `ece` (expected calibration error over
`bins` equal-width bins), `confidence` (their mean; all three null when none is stated), `stated` (the
fraction of episodes with a readable confidence).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, Stateless, mean
from verigym.trainer.shaping.registry import SHAPERS

CONFIDENCE_TAG = re.compile(r"<confidence>\s*([0-9]*\.?[0-9]+)\s*(%?)\s*</confidence>", re.IGNORECASE)


@dataclass
class RlcrConfig:
    """`weight` of the Brier term, the penalty for a missing/unreadable confidence, and the ECE bin count."""

    weight: float = 1.0
    missing_penalty: float = 1.0
    bins: int = 10


def parse_confidence(text: str) -> float | None:
    """The last `<confidence>q</confidence>` in `text` as a float in [0, 1]; None when absent or out of range."""
    found = CONFIDENCE_TAG.findall(text or "")
    if not found:
        return None
    number, percent = found[-1]
    q = float(number) / (100.0 if percent else 1.0)
    return q if 0.0 <= q <= 1.0 else None


def brier(confidences: list[float], outcomes: list[float]) -> float:
    """Mean (q - c)^2."""
    return mean([(q - c) ** 2 for q, c in zip(confidences, outcomes)])


def expected_calibration_error(confidences: list[float], outcomes: list[float], bins: int = 10) -> float:
    """ECE = sum over equal-width confidence bins of |bin| / N * |mean outcome - mean confidence| (q = 1 falls
    in the last bin)."""
    if not confidences:
        return 0.0
    buckets: dict[int, list[tuple[float, float]]] = {}
    for q, c in zip(confidences, outcomes):
        buckets.setdefault(min(int(q * bins), bins - 1), []).append((q, c))
    n = len(confidences)
    return sum(len(b) / n * abs(mean([c for _, c in b]) - mean([q for q, _ in b])) for b in buckets.values())


@SHAPERS.register("rlcr")
class Rlcr(Stateless):
    """Brier calibration term on the stated confidence; stateless."""

    name = "rlcr"

    def __init__(self, config: RlcrConfig, context: ShapingContext) -> None:
        self.config = config

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        out, qs, cs = [], [], []
        for ep, r in zip(episodes, rewards):
            q = parse_confidence(ep.final_action)
            c = float(ep.correct)
            if q is None:
                out.append(r - self.config.weight * self.config.missing_penalty)
                continue
            qs.append(q)
            cs.append(c)
            out.append(r - self.config.weight * (q - c) ** 2)
        undefined = math.nan  # no stated confidence this step: logged as null, not as a perfect 0
        metrics = {
            "brier": brier(qs, cs) if qs else undefined,
            "ece": expected_calibration_error(qs, cs, self.config.bins) if qs else undefined,
            "stated": len(qs) / max(len(episodes), 1),
            "confidence": mean(qs, empty=undefined),
        }
        return ShapeResult(out, metrics)
