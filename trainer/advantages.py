"""Advantage estimators: rewards of grouped episodes in, one advantage per (episode, assistant turn) out.

Every estimator is a pure function `fn(inputs, config) -> Tensor[N, T]` registered in `ADVANTAGE_ESTIMATORS`.
Episode-level estimators give every turn of an episode the same advantage; turn-level ones (`trloo`) differ
per turn. The trainer broadcasts these onto tokens with the per-token turn index, before the loss runs.
A group of one episode has no baseline and gets advantage 0 (it carries no relative signal).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from verigym.trainer.registry import AlgorithmRegistry


@dataclass
class AdvantageInputs:
    """Rewards of N episodes with at most T assistant turns each.

    `turn_rewards[i, t]` is the reward after turn t (0 on padding), `turn_mask[i, t]` is 1 on played turns,
    `groups[i]` is the group key (episodes sampled from the same task share it), `components[i, c]` is reward
    component c of episode i and `component_weights[c]` its rubric weight (used by `gdpo`).
    `process_rewards[i, t]` is a step scorer's reward for turn t, kept apart from the outcome (used by `hybrid`).
    `lengths[i]` (policy tokens) and `entropies[i]` (mean -log p of the sampled policy tokens) condition `canon`.
    """

    turn_rewards: Tensor
    turn_mask: Tensor
    groups: Tensor
    components: Tensor | None = None
    component_weights: Tensor | None = None
    process_rewards: Tensor | None = None
    lengths: Tensor | None = None
    entropies: Tensor | None = None

    @property
    def rewards(self) -> Tensor:
        """Episode returns: the sum of turn rewards, shape [N]."""
        return (self.turn_rewards * self.turn_mask).sum(dim=1)


@dataclass(frozen=True)
class AdvantageConfig:
    """Estimator settings. `eps` guards divisions by a standard deviation; `gamma` discounts turns (trloo,
    hybrid); `process_coef` weighs the normalised process rewards against the outcome (hybrid);
    `canon_metric` ("length" or "entropy") splits groups and `canon_mu` weighs across- vs within-half (canon)."""

    estimator: str = "grpo"
    eps: float = 1e-6
    gamma: float = 1.0
    process_coef: float = 1.0
    canon_metric: str = "length"
    canon_mu: float = 0.75



ADVANTAGE_ESTIMATORS: AlgorithmRegistry = AlgorithmRegistry("advantage estimator")


def compute_advantages(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """Run the configured estimator; returns [N, T] advantages, zero on padded turns."""
    advantages = ADVANTAGE_ESTIMATORS.get(config.estimator)(inputs, config)
    return advantages * inputs.turn_mask


def group_stats(values: Tensor, groups: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per element: (its group's mean, unbiased std (0 for a group of one), group size), each shape [N]."""
    _, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    values = values.double()
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, inverse, values)
    means = sums / counts
    sq = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, inverse, (values - means[inverse]) ** 2)
    var = torch.where(counts > 1, sq / (counts - 1).clamp(min=1), torch.zeros_like(sq))
    return means[inverse], var.sqrt()[inverse], counts[inverse]


def _standardise(values: Tensor, mean: Tensor, std: Tensor, count: Tensor, eps: float) -> Tensor:
    """(x - mean) / (std + eps); 0 for groups of one or without variance (never 0/0)."""
    dev = values.double() - mean
    ok = (count > 1) & (std > 0)
    return torch.where(ok, dev / torch.where(ok, std + eps, torch.ones_like(std)), torch.zeros_like(dev))


def _per_turn(episode_advantages: Tensor, inputs: AdvantageInputs) -> Tensor:
    return episode_advantages.to(inputs.turn_rewards.dtype)[:, None] * inputs.turn_mask


@ADVANTAGE_ESTIMATORS.register("grpo")
def grpo(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """GRPO: (r - group mean) / (group std + eps)."""
    mean, std, count = group_stats(inputs.rewards, inputs.groups)
    return _per_turn(_standardise(inputs.rewards, mean, std, count, config.eps), inputs)


@ADVANTAGE_ESTIMATORS.register("dr_grpo")
def dr_grpo(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """Dr. GRPO: r - group mean (no std division; pair it with the `seq-mean-token-sum-norm` aggregation)."""
    mean, _, count = group_stats(inputs.rewards, inputs.groups)
    adv = inputs.rewards.double() - mean
    return _per_turn(torch.where(count > 1, adv, torch.zeros_like(adv)), inputs)


@ADVANTAGE_ESTIMATORS.register("rloo")
def rloo(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """RLOO: r_i - mean of the other episodes of the group, i.e. n/(n-1) * (r_i - group mean)."""
    mean, _, count = group_stats(inputs.rewards, inputs.groups)
    n = count.double()
    adv = (inputs.rewards.double() - mean) * n / (n - 1).clamp(min=1)
    return _per_turn(torch.where(count > 1, adv, torch.zeros_like(adv)), inputs)


def turn_returns(turn_rewards: Tensor, turn_mask: Tensor, gamma: float) -> Tensor:
    """Reward-to-go per turn: G[i, t] = sum_{t' >= t} gamma^(t'-t) r[i, t'] over played turns, [N, T]."""
    rewards = (turn_rewards * turn_mask).double()
    returns = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=torch.float64)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns * turn_mask


@ADVANTAGE_ESTIMATORS.register("trloo")
def trloo(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """Turn-level leave-one-out (Dr. Kernel's TRLOO): A[i, t] = G[i, t] - mean of G[j, t] over the other
    episodes j of the group that reached turn t. Without self-inclusion the baseline is unbiased even when
    different numbers of episodes reach each turn; a turn reached by one episode only gets advantage 0."""
    returns = turn_returns(inputs.turn_rewards, inputs.turn_mask, config.gamma)
    mask = inputs.turn_mask.double()
    _, inverse = torch.unique(inputs.groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    sums = torch.zeros(n_groups, returns.shape[1], dtype=torch.float64).index_add_(0, inverse, returns * mask)
    counts = torch.zeros(n_groups, returns.shape[1], dtype=torch.float64).index_add_(0, inverse, mask)
    others = counts[inverse] - 1
    baseline = (sums[inverse] - returns) / others.clamp(min=1)
    adv = torch.where(others > 0, returns - baseline, torch.zeros_like(returns)) * mask
    return adv.to(inputs.turn_rewards.dtype)


@ADVANTAGE_ESTIMATORS.register("gdpo")
def gdpo(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """GDPO: normalise each reward component within its group ((x - mean) / (std + eps)), take the
    weighted sum with the rubric weights, then normalise that over the batch. Distinct component
    combinations with equal totals keep distinct advantages."""
    if inputs.components is None or inputs.component_weights is None:
        raise ValueError("the gdpo estimator needs per-component rewards; the env's records carry no components")
    total = torch.zeros(inputs.components.shape[0], dtype=torch.float64)
    for c in range(inputs.components.shape[1]):
        values = inputs.components[:, c]
        mean, std, count = group_stats(values, inputs.groups)
        normed = _standardise(values, mean, std, count, config.eps)
        total += float(inputs.component_weights[c]) * normed
    if total.numel() > 1:
        total = (total - total.mean()) / (total.std() + config.eps)
    return _per_turn(total, inputs)
