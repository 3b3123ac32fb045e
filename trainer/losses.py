"""Policy losses, loss aggregation, KL estimators and the rollout/trainer importance correction.

All pure functions over plain tensors of shape [B, L] (B sequences, L token positions); `mask` is 1 on policy
tokens. The hot path is `compute_loss(LossInputs, LossConfig)`; what it runs is chosen by name from the
registries below, so adding an algorithm is adding one registered function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from verigym.trainer.registry import AlgorithmRegistry

Metrics = dict[str, float]
PolicyLossFn = Callable[[Tensor, Tensor, Tensor, Tensor, "LossConfig"], tuple[Tensor, dict[str, Tensor]]]
AggregationFn = Callable[..., Tensor]
KLFn = Callable[[Tensor, Tensor], Tensor]

POLICY_LOSSES: AlgorithmRegistry[PolicyLossFn] = AlgorithmRegistry("policy loss")
AGGREGATIONS: AlgorithmRegistry[AggregationFn] = AlgorithmRegistry("loss aggregation")
KL_ESTIMATORS: AlgorithmRegistry[KLFn] = AlgorithmRegistry("KL estimator")
MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class LossConfig:
    """What the loss computes.

    `clip_low`/`clip_high` bound the ratio to [1 - clip_low, 1 + clip_high] (clip-higher when high > low;
    GSPO wants ~3e-4/4e-4; CISPO uses only `clip_high`). `dual_clip` (e.g. 3.0) caps the loss of
    negative-advantage tokens (PPO-clip only). `norm_len` is the constant of `seq-mean-token-sum-norm`
    (None: the padded length of the optimizer batch). `kl_coef` 0 disables the reference KL. `tis_cap` caps
    the truncated importance weight exp(trainer - rollout logprob) (None disables it). `entropy_coef` > 0
    subtracts coef * entropy per token (an exploration bonus; `entropy` must then be given).
    """

    policy_loss: str = "ppo_clip"
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = None
    aggregation: str = "token-mean"
    norm_len: int | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    tis_cap: float | None = 2.0
    tis_level: str = "token"
    entropy_coef: float = 0.0


@dataclass
class LossInputs:
    """Plain tensors the loss needs; everything algorithmic (advantages, masks) is computed before."""

    logprobs: Tensor
    old_logprobs: Tensor
    rollout_logprobs: Tensor
    advantages: Tensor
    mask: Tensor
    ref_logprobs: Tensor | None = None
    entropy: Tensor | None = None


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` where `mask` is 1 (0 when the mask is empty)."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


# --- policy losses: per-token loss [B, L] and detached per-token diagnostics ---------------------------------
@POLICY_LOSSES.register("ppo_clip")
def ppo_clip(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, cfg: LossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO-clip with asymmetric bounds: max(-A r, -A clip(r, 1-low, 1+high)), optionally dual-clipped."""
    ratio = torch.exp((logp - old_logp).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO))
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high)
    loss = torch.maximum(unclipped, clipped)
    if cfg.dual_clip is not None:
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * cfg.dual_clip), loss)
    return loss, {"ratio": ratio.detach(), "clipped": (clipped > unclipped).float()}


@POLICY_LOSSES.register("gspo")
def gspo(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, cfg: LossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """GSPO: the sequence ratio s = exp(mean_t(logp - old)) replaces the token ratio (its gradient flows
    through each token as s * grad logp_t / |y|); clipped like PPO with small bounds."""
    log_seq = ((logp - old_logp) * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    log_ratio = log_seq.detach()[:, None] + logp - logp.detach()
    ratio = torch.exp(log_ratio.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO))
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1 - cfg.clip_low, 1 + cfg.clip_high)
    loss = torch.maximum(unclipped, clipped)
    return loss, {"ratio": ratio.detach(), "clipped": (clipped > unclipped).float()}


@POLICY_LOSSES.register("cispo")
def cispo(logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, cfg: LossConfig) -> tuple[Tensor, dict[str, Tensor]]:
    """CISPO: REINFORCE with a clipped, stop-gradient importance weight: -sg(min(r, 1+high)) * A * logp.
    No token is ever dropped from the gradient, only down-weighted."""
    ratio = torch.exp((logp - old_logp).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)).detach()
    weight = ratio.clamp(max=1 + cfg.clip_high)
    return -weight * adv * logp, {"ratio": ratio, "clipped": (ratio > 1 + cfg.clip_high).float()}


# --- aggregation: per-token loss -> scalar. The normalisers are those of the whole optimizer batch, so
# micro-batches summed under gradient accumulation give exactly the full-batch loss. -------------------------
@AGGREGATIONS.register("token-mean")
def token_mean(loss: Tensor, mask: Tensor, *, num_seqs: float | None = None, num_tokens: float | None = None, norm_len: float | None = None) -> Tensor:
    """Sum over all policy tokens / number of policy tokens (in the optimizer batch)."""
    return (loss * mask).sum() / (num_tokens if num_tokens is not None else mask.sum().clamp(min=1))


@AGGREGATIONS.register("seq-mean-token-mean")
def seq_mean_token_mean(loss: Tensor, mask: Tensor, *, num_seqs: float | None = None, num_tokens: float | None = None, norm_len: float | None = None) -> Tensor:
    """Mean over sequences of each sequence's token mean (sequences without policy tokens do not count)."""
    per_seq = (loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    n = num_seqs if num_seqs is not None else (mask.sum(-1) > 0).sum().clamp(min=1)
    return per_seq.sum() / n


@AGGREGATIONS.register("seq-mean-token-sum-norm")
def seq_mean_token_sum_norm(loss: Tensor, mask: Tensor, *, num_seqs: float | None = None, num_tokens: float | None = None, norm_len: float | None = None) -> Tensor:
    """Dr. GRPO: sum of token losses / (number of sequences * a constant length), no per-length bias."""
    n = num_seqs if num_seqs is not None else loss.shape[0]
    length = norm_len if norm_len is not None else loss.shape[-1]
    return (loss * mask).sum() / (n * length)


# --- KL to a reference policy, per token (samples drawn from the current policy) -----------------------------
@KL_ESTIMATORS.register("k1")
def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k1 = log pi - log ref (unbiased, high variance, can be negative)."""
    return logp - ref_logp


@KL_ESTIMATORS.register("k2")
def kl_k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k2 = (log pi - log ref)^2 / 2."""
    return 0.5 * (logp - ref_logp) ** 2


@KL_ESTIMATORS.register("k3")
def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k3 = exp(ref - pi) - (ref - pi) - 1 (unbiased, non-negative, low variance)."""
    d = (ref_logp - logp).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return torch.exp(d) - d - 1


# --- rollout engine vs trainer ----------------------------------------------------------------------------
def truncated_is_weights(trainer_logp: Tensor, rollout_logp: Tensor, mask: Tensor, cap: float, level: str = "token") -> Tensor:
    """min(pi_trainer / pi_rollout, cap) per token, or per sequence (product over its tokens), detached."""
    log_ratio = ((trainer_logp - rollout_logp) * mask).detach()
    if level == "sequence":
        log_ratio = log_ratio.sum(-1, keepdim=True).expand_as(mask)
    elif level != "token":
        raise ValueError(f"tis_level must be 'token' or 'sequence', got {level!r}")
    return torch.exp(log_ratio.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)).clamp(max=cap)


def rollout_mismatch(trainer_logp: Tensor, rollout_logp: Tensor, mask: Tensor) -> Metrics:
    """How far the engine's sampling distribution is from the trainer's on the sampled tokens:
    KL(rollout || trainer) by k1 and k3, and the max / min ratio pi_trainer / pi_rollout."""
    if mask.sum() == 0:
        return {}
    t, r, m = trainer_logp.detach().double(), rollout_logp.detach().double(), mask.bool()
    log_ratio = (t - r)[m]
    return {
        "mismatch/kl_k1": float((-log_ratio).mean()),
        "mismatch/kl_k3": float((torch.exp(log_ratio) - log_ratio - 1).mean()),
        "mismatch/max_ratio": float(torch.exp(log_ratio.max())),
        "mismatch/min_ratio": float(torch.exp(log_ratio.min())),
    }


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax distribution at each position, [..., V] -> [...]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def compute_loss(
    inputs: LossInputs,
    cfg: LossConfig,
    *,
    num_seqs: float | None = None,
    num_tokens: float | None = None,
    norm_len: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The scalar loss of one micro-batch, and detached sums for metrics (divide by the token count).

    `num_seqs`/`num_tokens`/`norm_len` are the optimizer batch's normalisers (default: this micro-batch's).
    """
    mask = inputs.mask.to(inputs.logprobs.dtype)
    per_token, diag = POLICY_LOSSES.get(cfg.policy_loss)(
        inputs.logprobs, inputs.old_logprobs, inputs.advantages, mask, cfg
    )
    stats: dict[str, Tensor] = {
        "pg_clipfrac": (diag["clipped"] * mask).sum(),
        "ratio_mean": (diag["ratio"] * mask).sum(),
    }
    if cfg.tis_cap is not None:
        weights = truncated_is_weights(inputs.old_logprobs, inputs.rollout_logprobs, mask, cfg.tis_cap, cfg.tis_level)
        per_token = per_token * weights
        stats["tis_weight_mean"] = (weights * mask).sum()
        stats["tis_capped_frac"] = ((weights >= cfg.tis_cap) * mask).sum()
    stats["pg_loss"] = (per_token.detach() * mask).sum()
    if cfg.kl_coef > 0:
        if inputs.ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs reference logprobs; set loss.kl_coef = 0 or enable the reference model")
        kl = KL_ESTIMATORS.get(cfg.kl_estimator)(inputs.logprobs, inputs.ref_logprobs)
        per_token = per_token + cfg.kl_coef * kl
        stats["kl_ref"] = (kl.detach() * mask).sum()
    if cfg.entropy_coef > 0:
        if inputs.entropy is None:
            raise ValueError("entropy_coef > 0 needs per-token entropies in LossInputs.entropy")
        per_token = per_token - cfg.entropy_coef * inputs.entropy
    loss = AGGREGATIONS.get(cfg.aggregation)(per_token, mask, num_seqs=num_seqs, num_tokens=num_tokens, norm_len=norm_len)
    return loss, stats
