"""`hybrid` advantage estimator: outcome rewards normalised within the group, process rewards across the batch.

Outcome and process rewards live on different scales and carry different baselines: the outcome is compared
among samples of the same task (GRPO), a step's process reward against every step of the batch. With G the
episode return (outcome, shaping included) and P[i, t] the process reward-to-go from turn t (discount gamma),

    A[i, t] = (G_i - mean_group(G)) / (std_group(G) + eps)
              + process_coef * (P[i, t] - mean(P)) / (std(P) + eps)      (mean, std over all played turns)

The process part is 0 when P has no spread. Process rewards come from a `StepScorer` (`shaping.process`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from verigym.trainer.advantages import ADVANTAGE_ESTIMATORS, AdvantageConfig, AdvantageInputs, grpo, turn_returns


@ADVANTAGE_ESTIMATORS.register("hybrid")
def hybrid(inputs: AdvantageInputs, config: AdvantageConfig) -> Tensor:
    """Group-normalised outcome plus batch-normalised process reward-to-go (module docstring)."""
    if inputs.process_rewards is None:
        raise ValueError("the hybrid estimator needs process rewards: set shaping.process.scorer (e.g. \"rules\")")
    outcome = grpo(inputs, config).double()
    returns = turn_returns(inputs.process_rewards, inputs.turn_mask, config.gamma)
    played = inputs.turn_mask > 0
    values = returns[played]
    process = torch.zeros_like(returns)
    if values.numel() > 1 and float(values.std()) > 0:
        process = torch.where(played, (returns - values.mean()) / (values.std() + config.eps), process)
    return (outcome + config.process_coef * process).to(inputs.turn_rewards.dtype) * inputs.turn_mask
