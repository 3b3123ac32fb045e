"""Backward and forward correction of a noisy binary verifier ("RL with verifiable yet noisy rewards").

Cai et al., "Reinforcement Learning with Verifiable yet Noisy Rewards under Imperfect Verifiers"
(arXiv 2510.00915). The verifier is a channel that flips the true outcome R* in {0, 1} into the observed R~ with
a false-positive rate rho0 = P(R~ = 1 | R* = 0) and a false-negative rate rho1 = P(R~ = 0 | R* = 1),
rho0 + rho1 < 1. Since E[R~ | R*] = rho0 + (1 - rho0 - rho1) R*, the surrogate

    R^ = (R~ - rho0) / (1 - rho0 - rho1)

has E[R^ | R*] = R*: an unbiased reward, hence an unbiased policy gradient (the raw R~ is not). The correctness
part of the reward (the rubric's correct component x its weight, or success) is replaced by R^:
reward += w_correct * (R^ - R~) (`mode = "backward"`, the default).

Forward correction (`mode = "forward"`, the paper's PGFC; the weights are the paper's, how they enter our
pipeline is our reading): the score-function term of an episode is weighted by w(R~) with w1 = rho1 (observed
pass) and w0 = rho1 - 1 (observed fail), i.e. the correctness part becomes

    w(R~) = R~ - (1 - rho1),    E[w | R*] = (1 - rho0 - rho1) (R* - 1)

an increasing affine function of R*, so E[w grad log pi] = (1 - rho0 - rho1) grad J: the expected update points
along the clean gradient, and only rho1 is needed (rho0 may be unknown). Caveat: w differs from R~ by a
constant, which every group baseline (grpo, dr_grpo, rloo, trloo, gdpo) cancels exactly; forward correction
therefore changes the update only under a baseline-free estimator, and with a group estimator the run equals
the uncorrected one (backward's rescaling by 1 / (1 - rho0 - rho1) does change the balance of correctness
against the env's other components and other shapers).

Rates are configured, or estimated from a labelled sample (a JSONL file of {"observed": 0|1, "true": 0|1} rows:
rho0 = FP / negatives, rho1 = FN / positives).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from verigym.trainer.shaping.base import EpisodeView, ShapeResult, ShapingContext, Stateless, mean
from verigym.trainer.shaping.registry import SHAPERS


@dataclass
class NoisyVerifierConfig:
    """`mode`: "backward" or "forward" (needs only `fn_rate`); `fp_rate` (rho0) and `fn_rate` (rho1), or
    `labelled` (a JSONL path) to estimate both at start."""

    mode: str = "backward"
    fp_rate: float = 0.0
    fn_rate: float = 0.0
    labelled: str = ""


def estimate_noise_rates(observed: list[int], true: list[int]) -> tuple[float, float]:
    """(rho0, rho1) from paired observed/true binary outcomes; raises when a class is missing."""
    negatives = [o for o, t in zip(observed, true) if not t]
    positives = [o for o, t in zip(observed, true) if t]
    if not negatives or not positives:
        raise ValueError("noise-rate estimation needs labelled examples of both true outcomes (0 and 1)")
    return sum(negatives) / len(negatives), 1.0 - sum(positives) / len(positives)


def backward_corrected(observed: float, fp_rate: float, fn_rate: float) -> float:
    """R^ = (R~ - rho0) / (1 - rho0 - rho1)."""
    return (observed - fp_rate) / (1.0 - fp_rate - fn_rate)


def forward_weight(observed: float, fn_rate: float) -> float:
    """w(R~) = R~ - (1 - rho1): rho1 for an observed pass, rho1 - 1 for an observed fail."""
    return observed - (1.0 - fn_rate)


def load_labelled(path: str | Path) -> tuple[float, float]:
    """Estimate (rho0, rho1) from a JSONL file of {"observed": 0|1, "true": 0|1} rows."""
    observed, true = [], []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            observed.append(int(bool(row["observed"])))
            true.append(int(bool(row["true"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: expected a JSON object with 'observed' and 'true' (0 or 1): {exc}") from None
    return estimate_noise_rates(observed, true)


@SHAPERS.register("noisy_verifier")
class NoisyVerifier(Stateless):
    """Backward- or forward-corrected correctness; stateless once the rates are known."""

    name = "noisy_verifier"

    def __init__(self, config: NoisyVerifierConfig, context: ShapingContext) -> None:
        if config.mode not in ("backward", "forward"):
            raise ValueError(f"shaping.noisy_verifier.mode must be 'backward' or 'forward', got {config.mode!r}")
        fp, fn = load_labelled(config.labelled) if config.labelled else (config.fp_rate, config.fn_rate)
        if not (0 <= fp < 1 and 0 <= fn < 1 and fp + fn < 1):
            raise ValueError(f"shaping.noisy_verifier: need 0 <= fp_rate, fn_rate and fp_rate + fn_rate < 1, got {fp}, {fn}")
        self.fp_rate, self.fn_rate = fp, fn
        self.mode = config.mode
        self.context = context

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult:
        out, raw, corrected = [], [], []
        for ep, r in zip(episodes, rewards):
            weight, value = self.context.correctness(ep)
            if self.mode == "forward":
                fixed = forward_weight(value, self.fn_rate)
            else:
                fixed = backward_corrected(value, self.fp_rate, self.fn_rate)
            out.append(r + weight * (fixed - value))
            raw.append(value)
            corrected.append(fixed)
        metrics = {"raw_correct": mean(raw), "corrected_correct": mean(corrected), "fp_rate": self.fp_rate, "fn_rate": self.fn_rate}
        return ShapeResult(out, metrics)
