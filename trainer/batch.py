"""Episode records -> the padded tensors the update consumes (token-in/token-out: nothing is re-tokenised).

Advantages are computed per (episode, assistant turn) by an estimator, then broadcast onto that turn's
policy tokens with the per-token turn index; observation and prompt tokens get mask 0 and advantage 0.
Tensors are laid out for next-token prediction: position t holds token t, whose logprob the model predicts
from positions < t; position 0 is never a policy token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from verigym.agents.records import EpisodeRecord
from verigym.trainer.advantages import AdvantageConfig, AdvantageInputs, compute_advantages


@dataclass
class TrainBatch:
    """B padded sequences of length L (right padding with `pad_id`)."""

    input_ids: Tensor  # [B, L] long
    attention_mask: Tensor  # [B, L] 1 on real tokens
    loss_mask: Tensor  # [B, L] float, 1 on policy tokens
    rollout_logprobs: Tensor  # [B, L] float, engine logprobs (0 off-mask)
    advantages: Tensor  # [B, L] float (0 off-mask)
    norm_len: int = 0  # the longest recorded episode (before trimming): `seq-mean-token-sum-norm`'s default constant

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, index: Sequence[int] | slice) -> TrainBatch:
        """The rows `index`, trimmed to their longest real sequence."""
        rows = {k: v[index] for k, v in vars(self).items() if isinstance(v, Tensor)}
        length = int(rows["attention_mask"].sum(-1).max().item()) if len(rows["input_ids"]) else 0
        return TrainBatch(**{k: v[:, : max(length, 1)] for k, v in rows.items()}, norm_len=self.norm_len)

    @property
    def num_tokens(self) -> int:
        return int(self.loss_mask.sum().item())


def turn_index_of(record: EpisodeRecord) -> list[int]:
    """Per-token assistant-turn index (-1 off policy tokens): the collector's column, else derived from
    `loss_mask` (each maximal run of policy tokens is one turn)."""
    explicit = getattr(record, "turn_index", None) or record.metadata.get("turn_index")
    if explicit is not None:
        return [int(t) for t in explicit]
    assert record.loss_mask is not None
    out, turn, prev = [], -1, 0
    for m in record.loss_mask:
        if m and not prev:
            turn += 1
        out.append(turn if m else -1)
        prev = m
    return out


def advantage_inputs(records: Sequence[EpisodeRecord], component_names: Sequence[str], weights: dict[str, float]) -> AdvantageInputs:
    """Turn rewards, masks, group ids and components of scored episodes, for an estimator."""
    n_turns = max((len(r.turn_records) for r in records), default=1) or 1
    turn_rewards = torch.zeros(len(records), n_turns)
    turn_mask = torch.zeros(len(records), n_turns)
    for i, r in enumerate(records):
        for t, turn in enumerate(r.turn_records):
            turn_rewards[i, t] = float(turn.reward)
            turn_mask[i, t] = 1.0
    keys = {g: k for k, g in enumerate(dict.fromkeys(group_key(r) for r in records))}
    groups = torch.tensor([keys[group_key(r)] for r in records], dtype=torch.long)
    components = torch.tensor([[float(r.components.get(c, 0.0)) for c in component_names] for r in records]) if component_names else None
    comp_w = torch.tensor([float(weights.get(c, 1.0)) for c in component_names]) if component_names else None
    process = None
    if any("process_rewards" in r.metadata for r in records):  # a step scorer ran (shaping.process)
        process = torch.zeros(len(records), n_turns)
        for i, r in enumerate(records):
            for t, value in enumerate(r.metadata.get("process_rewards", [])[:n_turns]):
                process[i, t] = float(value)
    lengths = torch.tensor([float(sum(r.loss_mask or [])) for r in records])
    entropies = torch.tensor([_surprisal(r) for r in records])
    return AdvantageInputs(turn_rewards, turn_mask, groups, components, comp_w, process, lengths, entropies)


def _surprisal(record: EpisodeRecord) -> float:
    """Mean -log p of the episode's sampled policy tokens (0 without logprobs)."""
    mask, logprobs = record.loss_mask or [], record.logprobs or []
    picked = [-lp for m, lp in zip(mask, logprobs) if m]
    return sum(picked) / len(picked) if picked else 0.0


def group_key(record: EpisodeRecord) -> object:
    """Episodes of the same task form a group: the record's `group` column (the task seed by default)."""
    return record.group if record.group is not None else record.seed


def build_batch(
    records: Sequence[EpisodeRecord],
    advantage_config: AdvantageConfig,
    component_names: Sequence[str] = (),
    weights: dict[str, float] | None = None,
    pad_id: int = 0,
) -> tuple[TrainBatch, Tensor]:
    """Pad the episodes and place each turn's advantage on its tokens; also returns the [N, T] advantages.

    Each episode is cut after its last policy token: what follows (the env's closing observation) is never
    predicted, so the update does not forward it.
    """
    if not records:
        raise ValueError("build_batch got no episodes (all were dropped?)")
    turn_adv = compute_advantages(advantage_inputs(records, component_names, weights or {}), advantage_config)
    length = max(trained_length(r) for r in records)
    b = len(records)
    input_ids = torch.full((b, length), pad_id, dtype=torch.long)
    attention = torch.zeros(b, length, dtype=torch.long)
    loss_mask = torch.zeros(b, length)
    rollout_lp = torch.zeros(b, length)
    adv = torch.zeros(b, length)
    for i, r in enumerate(records):
        if r.token_ids is None or r.loss_mask is None or r.logprobs is None:
            raise ValueError(f"episode {r.task_id} has no token ids/mask/logprobs; collect with a model policy")
        n = trained_length(r)
        input_ids[i, :n] = torch.tensor(r.token_ids[:n], dtype=torch.long)
        attention[i, :n] = 1
        mask = torch.tensor(r.loss_mask[:n], dtype=torch.float32)
        mask[0] = 0.0
        loss_mask[i, :n] = mask
        rollout_lp[i, :n] = torch.tensor(r.logprobs[:n], dtype=torch.float32) * mask
        turns = torch.tensor(turn_index_of(r)[:n], dtype=torch.long)
        valid = (turns >= 0) & (turns < turn_adv.shape[1]) & (mask > 0)
        adv[i, :n][valid] = turn_adv[i, turns[valid]].float()
    norm_len = max(len(r.token_ids or []) for r in records)
    return TrainBatch(input_ids, attention, loss_mask, rollout_lp, adv, norm_len), turn_adv


def trained_length(record: EpisodeRecord) -> int:
    """Tokens of the episode the update needs: up to and including its last policy token (at least 1)."""
    mask = record.loss_mask or []
    for i in range(len(mask) - 1, 0, -1):
        if mask[i]:
            return i + 1
    return min(1, len(record.token_ids or []))
