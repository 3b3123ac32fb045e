"""`canon` advantage estimator: conditional advantages over two subgroups split by a metric (CANON).

Chen et al., "Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models" (arXiv
2509.23962). Each group (the samples of one task) is sorted by a metric m (`length`: policy tokens;
`entropy`: mean surprisal -log p of the sampled policy tokens, a one-sample estimate of the per-token
entropy) and cut at its median into a low half C- (the floor(n/2) smallest m; ties broken by position) and a
high half C+. With r the episode return and C(i) the half of episode i, C'(i) the other half,

    A_intra[i] = r_i - mean_{C(i)} r        (which sample is better among those with the same trend)
    A_inter[i] = r_i - mean_{C'(i)} r       (which trend, higher or lower m, earns more)
    A[i]       = (1 - mu) A_intra[i] + mu A_inter[i]

Nothing presumes that higher or lower m is better: the inter term favours whichever half earned more in this
group. mu = 0.5 with equal halves is Dr. GRPO (r_i - group mean); mu > 0.5 amplifies the metric's trend. A group
of one gets 0, a half of one has A_intra = 0. Per-step metrics (`shaping/canon/*`, from `canon_metrics`):
`metric` (mean m), `reward_gap` (mean over groups of mean_{C+} r - mean_{C-} r: > 0 when higher m pays),
`high_better` / `low_better` (share of groups whose high / low half earned more).
"""

from __future__ import annotations

import torch
from torch import Tensor

from verigym.trainer.advantages import ADVANTAGE_ESTIMATORS, AdvantageConfig, AdvantageInputs

METRICS = ("length", "entropy")


def _metric(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    if config.canon_metric not in METRICS:
        raise ValueError(f"algorithm.canon_metric must be one of {METRICS}, got {config.canon_metric!r}")
    values = inputs.lengths if config.canon_metric == "length" else inputs.entropies
    if values is None:
        raise ValueError(f"the canon estimator needs per-episode {config.canon_metric}s in the advantage inputs (records with tokens)")
    return values.double()


def halves(metric: Tensor, groups: Tensor) -> Tensor:
    """1 for episodes in their group's high half C+, 0 for the low half C- (see the module docstring)."""
    high = torch.zeros(len(metric), dtype=torch.long)
    for g in torch.unique(groups):
        members = torch.nonzero(groups == g).flatten()
        order = sorted(members.tolist(), key=lambda i: (float(metric[i]), i))
        high[order[len(order) // 2 :]] = 1
    return high


def _half_means(rewards: Tensor, groups: Tensor, high: Tensor) -> dict[tuple[int, int], tuple[float, int]]:
    out = {}
    for g in torch.unique(groups).tolist():
        for h in (0, 1):
            sel = (groups == g) & (high == h)
            out[(g, h)] = (float(rewards[sel].mean()) if sel.any() else 0.0, int(sel.sum()))
    return out


@ADVANTAGE_ESTIMATORS.register("canon")
def canon(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """(1 - mu) x within-half + mu x across-half advantage (module docstring)."""
    rewards = inputs.rewards.double()
    high = halves(_metric(inputs, config), inputs.groups)
    means = _half_means(rewards, inputs.groups, high)
    adv = torch.zeros_like(rewards)
    for i in range(len(rewards)):
        g, h = int(inputs.groups[i]), int(high[i])
        own, n_own = means[(g, h)]
        other, n_other = means[(g, 1 - h)]
        if n_other == 0:  # a group of one
            continue
        intra = float(rewards[i]) - own if n_own > 1 else 0.0
        adv[i] = (1 - config.canon_mu) * intra + config.canon_mu * (float(rewards[i]) - other)
    return adv.to(inputs.turn_rewards.dtype)[:, None] * inputs.turn_mask


def canon_metrics(inputs: AdvantageInputs, config: AdvantageConfig) -> dict[str, float]:
    """`shaping/canon/*`: the mean metric and which half earned more, over groups of two or more."""
    metric = _metric(inputs, config)
    rewards = inputs.rewards.double()
    high = halves(metric, inputs.groups)
    means = _half_means(rewards, inputs.groups, high)
    gaps = [means[(g, 1)][0] - means[(g, 0)][0] for g in torch.unique(inputs.groups).tolist() if means[(g, 0)][1] and means[(g, 1)][1]]
    n = max(len(gaps), 1)
    return {
        "shaping/canon/metric": float(metric.mean()) if len(metric) else 0.0,
        "shaping/canon/reward_gap": sum(gaps) / n,
        "shaping/canon/high_better": sum(d > 0 for d in gaps) / n,
        "shaping/canon/low_better": sum(d < 0 for d in gaps) / n,
    }
