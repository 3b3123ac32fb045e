"""The policy update: micro-batched forward/backward with gradient accumulation, clipping, one optimizer step
per mini-batch. Algorithm-agnostic: it only feeds plain tensors to `compute_loss`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from verigym.trainer.batch import TrainBatch
from verigym.trainer.config import OptimConfig
from verigym.trainer.logprobs import DEFAULT_CHUNK_MIB, sequence_logprobs
from verigym.trainer.losses import LossConfig, LossInputs, compute_loss, rollout_mismatch

if TYPE_CHECKING:
    from verigym.trainer.distributed import DistContext


def token_logprobs(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    entropy_mask: Tensor | None = None,
    entropy_grad: bool = False,
    *,
    positions: Tensor | None = None,
    chunk_mib: float = DEFAULT_CHUNK_MIB,
    share_prefix: bool = False,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor | None]:
    """Logprob of each token given its prefix, [B, L] (position 0 gets 0), and, if `entropy_mask` is given,
    the entropy of the predictive distribution of each token, [B, L] (0 off the mask; differentiable only
    with `entropy_grad`). Only `positions` (default: the entropy mask, else every position) are computed;
    the rest are 0. The LM head runs in chunks of at most `chunk_mib` MiB of fp32 logits; `share_prefix`
    runs a prefix common to several rows (a group's prompt) once (`sequence_logprobs`). `temperature`: the
    rollout's sampling temperature (`policy_temperature`), so both are of softmax(logits / T)."""
    if positions is None:
        positions = entropy_mask
    logp, entropy = sequence_logprobs(
        model, input_ids, attention_mask, positions, want_entropy=entropy_mask is not None, entropy_grad=entropy_grad, chunk_mib=chunk_mib, share_prefix=share_prefix,
        temperature=temperature,
    )
    if entropy is not None and entropy_mask is not None:
        entropy = entropy * entropy_mask
    return logp, entropy


@torch.no_grad()
def batch_logprobs(
    model: torch.nn.Module,
    batch: TrainBatch,
    micro_batch_size: int,
    device: torch.device,
    chunk_mib: float = DEFAULT_CHUNK_MIB,
    dist: DistContext | None = None,
    share_prefix: bool = False,
    temperature: float = 1.0,
) -> Tensor:
    """Logprobs of the policy tokens under `model` without gradient (old-policy or reference logprobs), [B, L].
    Under torchrun each rank computes its share of the rows and the result is summed over ranks.
    `share_prefix`, `temperature`: as in `token_logprobs`."""
    from verigym.trainer.distributed import DistContext

    dist = dist or DistContext()
    out = torch.zeros_like(batch.rollout_logprobs)
    for rows, real in dist.micro_batches(0, len(batch), micro_batch_size):
        mb = batch.select(rows)
        lp, _ = token_logprobs(model, mb.input_ids.to(device), mb.attention_mask.to(device), positions=mb.loss_mask.to(device), chunk_mib=chunk_mib, share_prefix=share_prefix, temperature=temperature)
        if real:  # padding micro-batches only join FSDP2's forward collectives
            out[rows, : lp.shape[1]] = lp.float().cpu()
    return dist.all_reduce_sum(out)


def lr_lambda(optim: OptimConfig, total_steps: int):
    """Multiplier of the base LR at optimizer step s: linear warmup, then constant/linear/cosine decay."""

    def factor(step: int) -> float:
        if optim.warmup_steps > 0 and step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "constant":
            return 1.0
        span = max(total_steps - optim.warmup_steps, 1)
        progress = min(max(step - optim.warmup_steps, 0) / span, 1.0)
        shape = 1.0 - progress if optim.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return optim.min_lr_ratio + (1.0 - optim.min_lr_ratio) * shape

    return factor


def build_optimizer(model: torch.nn.Module, optim: OptimConfig, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters, and its LR schedule."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(optim, total_steps))


@dataclass
class UpdateResult:
    """Metrics of one rollout batch's update."""

    metrics: dict[str, float]
    optimizer_steps: int


def update_policy(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batch: TrainBatch,
    loss_cfg: LossConfig,
    optim: OptimConfig,
    device: torch.device,
    ref_model: torch.nn.Module | None = None,
    dist: DistContext | None = None,
    temperature: float = 1.0,
) -> UpdateResult:
    """Train on one rollout batch: `epochs` passes of `mini_batches` optimizer steps, each accumulated over
    micro-batches whose losses use the mini-batch's normalisers (so 1x8 and 8x1 give the same update).

    Under torchrun (`dist`, every rank holding the whole batch), each rank runs its share of each
    mini-batch's rows and the metrics are summed over ranks: the update equals the single-process one.

    `temperature` is the one the batch was sampled at (`policy_temperature(rollout.temperature)`): the policy,
    old and reference logprobs (hence the ratio, the KL and the truncated importance weights against the
    engine's logprobs) and the entropy are all of softmax(logits / temperature), the sampling distribution."""
    from verigym.trainer.distributed import DistContext, grad_norm_value

    dist = dist or DistContext()
    loss_scale = float(dist.world_size)  # FSDP2 averages gradients over ranks; the normalisers are global
    model.train()
    n = len(batch)
    reuse_old = optim.mini_batches == 1 and optim.epochs == 1  # on-policy single step: old = current, detached
    old_all = None if reuse_old else batch_logprobs(model, batch, optim.micro_batch_size, device, optim.logits_chunk_mib, dist, optim.share_prefix, temperature)
    ref_all = (
        batch_logprobs(ref_model, batch, optim.micro_batch_size, device, optim.logits_chunk_mib, dist, optim.share_prefix, temperature)
        if loss_cfg.kl_coef > 0 and ref_model is not None
        else None
    )
    norm_len = loss_cfg.norm_len or batch.norm_len or batch.input_ids.shape[1]
    sums: dict[str, float] = {}
    entropy_sum, entropy_count = 0.0, 0.0
    trainer_lp = torch.zeros_like(batch.rollout_logprobs)
    grad_norms: list[float] = []
    steps = 0
    mb_size = optim.micro_batch_size
    mini_size = math.ceil(n / optim.mini_batches)
    for _ in range(optim.epochs):
        for mini_start in range(0, n, mini_size):
            mini_rows = range(mini_start, min(mini_start + mini_size, n))
            mini_mask = batch.loss_mask[mini_start : mini_rows.stop]
            num_tokens = float(mini_mask.sum().clamp(min=1))
            num_seqs = float((mini_mask.sum(-1) > 0).sum().clamp(min=1))
            for rows, real in dist.micro_batches(mini_rows.start, mini_rows.stop, mb_size):
                if not real:  # padding: a row with policy tokens, so every sharded unit takes part in backward
                    first = mini_start + int((mini_mask.sum(-1) > 0).long().argmax())
                    rows = slice(first, first + 1)
                mb = batch.select(rows)
                width = mb.input_ids.shape[1]
                mask = mb.loss_mask.to(device)
                logp, entropy = token_logprobs(
                    model, mb.input_ids.to(device), mb.attention_mask.to(device), mask, loss_cfg.entropy_coef > 0, chunk_mib=optim.logits_chunk_mib,
                    share_prefix=optim.share_prefix, temperature=temperature,
                )
                old = logp.detach() if old_all is None else old_all[rows, :width].to(device)
                ref = None if ref_all is None else ref_all[rows, :width].to(device)
                loss, stats = compute_loss(
                    LossInputs(logp, old, mb.rollout_logprobs.to(device), mb.advantages.to(device), mask, ref, entropy),
                    loss_cfg,
                    num_seqs=num_seqs,
                    num_tokens=num_tokens,
                    norm_len=norm_len,
                )
                (loss * (loss_scale if real else 0.0)).backward()  # padding micro-batches only join the collectives
                if not real:
                    for k in stats:
                        sums.setdefault(k, 0.0)  # the same keys on every rank for the all-reduce
                    continue
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if entropy is not None:
                    entropy_sum += float(entropy.detach()[mask > 0].double().sum())
                    entropy_count += float((mask > 0).sum())
                trainer_lp[rows, :width] = old.detach().float().cpu()
            grad_norms.append(grad_norm_value(torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], optim.grad_clip if optim.grad_clip > 0 else float("inf"))))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
    if dist.enabled:  # each rank saw its rows only: sum the metric sums and the trainer logprobs over ranks
        names = sorted(sums)
        totals = dist.all_reduce_sum(torch.tensor([sums[k] for k in names] + [entropy_sum, entropy_count], dtype=torch.float64))
        sums = dict(zip(names, totals[: len(names)].tolist()))
        entropy_sum, entropy_count = float(totals[-2]), float(totals[-1])
        if old_all is None:
            dist.all_reduce_sum(trainer_lp)
    tokens = max(batch.num_tokens * optim.epochs, 1)
    metrics = {
        "loss/pg": sums.get("pg_loss", 0.0) / tokens,
        "loss/clipfrac": sums.get("pg_clipfrac", 0.0) / tokens,
        "loss/ratio_mean": sums.get("ratio_mean", 0.0) / tokens,
        "grad_norm": sum(grad_norms) / max(len(grad_norms), 1),
        "lr": float(scheduler.get_last_lr()[0]),
        "entropy": entropy_sum / entropy_count if entropy_count else float("nan"),
    }
    if "tis_weight_mean" in sums:
        metrics["tis/weight_mean"] = sums["tis_weight_mean"] / tokens
        metrics["tis/capped_frac"] = sums["tis_capped_frac"] / tokens
    if "kl_ref" in sums:
        metrics["kl/ref"] = sums["kl_ref"] / tokens
    first_pass = trainer_lp if old_all is None else old_all
    metrics.update(rollout_mismatch(first_pass, batch.rollout_logprobs, batch.loss_mask))
    return UpdateResult(metrics, steps)
