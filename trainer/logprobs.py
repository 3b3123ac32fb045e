"""Token log-probabilities and entropies of a causal LM, computed only where they are used and in chunks.

The backbone runs once over the (trimmed) sequences; the LM head, log-softmax and entropy then run only at
the positions whose next token is wanted (policy tokens), `chunk_tokens` positions at a time, so peak memory
is about `4 * chunk_tokens * vocab * 4` bytes instead of `4 * batch * length * vocab * 4` bytes. With
gradients, each chunk is checkpointed (its logits are recomputed in the backward pass, never kept). Every
position's values depend on that position only, so chunked and unchunked results are the same numbers.

With `share_prefix`, rows of a right-padded batch whose tokens before their first wanted position are
identical (the samples of one GRPO group) share one backbone forward of that prefix: each distinct prefix
runs once, and every row's suffix runs against the prefix's key/value cache selected to its rows, so the
backward sums the rows' gradients into the one prefix computation. The math is that of separate forwards
(the numbers differ by float rounding only); batches where it cannot apply or saves little run unshared.

`temperature` T: the values are those of the distribution the rollout engine samples from, softmax(logits / T)
(as TRL and verl compute them): each chunk's logits are divided by T before the log-softmax and the entropy.
T = 1 runs exactly the untempered computation (the same numbers bit for bit).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

# A model whose logits are not a plain linear head of the last hidden state falls back to full logits.
_HEAD_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier_scale", "logits_scaling")
DEFAULT_CHUNK_MIB = 64.0
# Chunks are balanced and at least this many rows: BLAS takes other code paths (other summation orders) for
# matrices of a few rows, so tiny chunks would not reproduce the unchunked numbers bit for bit.
MIN_CHUNK_ROWS = 16
# Prefix sharing runs on decoders whose forward takes per-row `position_ids`, a 2-D padding mask over
# [cache | input] and a `DynamicCache` of rotated keys/values, with full attention in every layer.
_SHAREABLE_MODEL_TYPES = ("llama", "qwen2", "qwen3")
_SHAREABLE_ATTENTION = ("sdpa", "eager")
MIN_SHARED_PREFIX = 4  # tokens: a shorter common prefix saves less than a second backbone call costs
MAX_SHARED_COST = 0.8  # share only when prefix + suffix forwards take under this fraction of the unshared tokens


def chunk_tokens_for(vocab_size: int, chunk_mib: float = DEFAULT_CHUNK_MIB) -> int:
    """How many positions one chunk holds so that its fp32 logits take at most `chunk_mib` MiB."""
    return max(1, int(chunk_mib * 2**20) // (4 * max(vocab_size, 1)))


def split_lm(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """(backbone, lm_head) of a Hugging Face causal LM (LoRA-wrapped or not), or None when its logits are
    more than `lm_head(last_hidden_state)` (soft-capping, scaling): then full logits are used."""
    base = model.get_base_model() if hasattr(model, "get_base_model") and hasattr(model, "peft_config") else model
    config = getattr(base, "config", None)
    if config is None or any(getattr(config, name, None) not in (None, 1, 1.0) for name in _HEAD_TRANSFORMS):
        return None
    get_head = getattr(base, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    backbone = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    if not isinstance(head, torch.nn.Linear) or not isinstance(backbone, torch.nn.Module) or backbone is base:
        return None
    return backbone, head


def policy_temperature(sampling_temperature: float) -> float:
    """The temperature the policy's log-probs are computed at for a rollout sampled at `sampling_temperature`:
    that temperature when sampling (> 0), else 1 (greedy decoding: the raw distribution)."""
    return float(sampling_temperature) if sampling_temperature > 0 else 1.0


def _chunk_values(
    logits: Tensor, targets: Tensor, want_entropy: bool, entropy_grad: bool, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Log-prob of `targets` and entropy of each row of `logits / temperature` [N, V] (fp32)."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, targets[:, None]).squeeze(-1)
    if not want_entropy:
        return logp, logp.new_zeros(logp.shape)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def _head_chunk(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, want_entropy: bool, entropy_grad: bool, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    return _chunk_values(torch.nn.functional.linear(hidden, weight, bias), targets, want_entropy, entropy_grad, temperature)


def head_logprobs(
    hidden: Tensor,
    head: torch.nn.Linear,
    targets: Tensor,
    chunk_tokens: int,
    want_entropy: bool = False,
    entropy_grad: bool = False,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor | None]:
    """Log-probs [N] of `targets` under `head(hidden) / temperature` ([N, H] -> [N, V]) and, if wanted,
    entropies [N], in balanced chunks of at most `chunk_tokens` rows (at least MIN_CHUNK_ROWS), checkpointed
    when gradients are on and there is more than one chunk."""
    n = hidden.shape[0]
    if n == 0:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return empty, (empty if want_entropy else None)
    pieces = max(1, min(-(-n // max(1, int(chunk_tokens))), n // MIN_CHUNK_ROWS))
    recompute = torch.is_grad_enabled() and pieces > 1
    logps, entropies = [], []
    for h, t in zip(torch.tensor_split(hidden, pieces), torch.tensor_split(targets, pieces), strict=True):
        args = (h, head.weight, head.bias, t, want_entropy, entropy_grad, temperature)
        lp, ent = checkpoint(_head_chunk, *args, use_reentrant=False) if recompute else _head_chunk(*args)
        logps.append(lp)
        entropies.append(ent)
    logp = logps[0] if len(logps) == 1 else torch.cat(logps)
    entropy = (entropies[0] if len(entropies) == 1 else torch.cat(entropies)) if want_entropy else None
    return logp, entropy


def can_share_prefix(backbone: torch.nn.Module) -> bool:
    """Whether `backbone` (a decoder without LM head) is one the shared-prefix forward is verified for: a
    listed model family, full attention in every layer, an sdpa/eager kernel, no gradient checkpointing
    (which drops the key/value cache)."""
    config = getattr(backbone, "config", None)
    return (
        getattr(config, "model_type", None) in _SHAREABLE_MODEL_TYPES
        and all(kind == "full_attention" for kind in getattr(config, "layer_types", None) or ())
        and getattr(config, "_attn_implementation", None) in _SHAREABLE_ATTENTION
        and not getattr(backbone, "is_gradient_checkpointing", False)
    )


@dataclass(frozen=True)
class PrefixPlan:
    """A right-padded batch of B rows split into G distinct prefixes (each row's tokens before its first
    wanted position) and B suffixes (the rest of each row)."""

    group: Tensor  # [B] index of each row's prefix
    split: Tensor  # [B] each row's prefix length = the column where its suffix starts
    prefix_ids: Tensor  # [G, P] right-padded
    prefix_mask: Tensor  # [G, P]
    suffix_ids: Tensor  # [B, S] right-padded
    suffix_mask: Tensor  # [B, S]


def plan_prefix_sharing(input_ids: Tensor, attention_mask: Tensor, wanted: Tensor) -> PrefixPlan | None:
    """The prefix/suffix split of a batch, or None where sharing does not apply (not right-padded, an empty
    row, no prefix of at least MIN_SHARED_PREFIX tokens shared by two rows) or saves too little (the padded
    prefix + suffix batches hold MAX_SHARED_COST of the unshared tokens or more)."""
    b, length = input_ids.shape
    lengths = attention_mask.sum(-1)
    columns = torch.arange(length, device=input_ids.device)
    if b < 2 or not bool((lengths > 0).all()) or not torch.equal(attention_mask.bool(), columns < lengths[:, None]):
        return None
    split = torch.where(wanted.any(-1), wanted.int().argmax(-1), lengths)  # a row with nothing wanted: all prefix
    ids, cuts = input_ids.tolist(), split.tolist()
    keys: dict[tuple[int, ...], int] = {}
    group = [keys.setdefault(tuple(row[:cut]), len(keys)) for row, cut in zip(ids, cuts, strict=True)]
    sizes = Counter(group)
    prefix_len = [len(key) for key in keys]
    if not any(sizes[g] >= 2 and prefix_len[g] >= MIN_SHARED_PREFIX for g in range(len(keys))):
        return None
    p, s = max(prefix_len), int((lengths - split).max())
    if len(keys) * p + b * s >= MAX_SHARED_COST * b * length:
        return None
    group_t = torch.tensor(group, device=input_ids.device)
    first_row = torch.tensor([group.index(g) for g in range(len(keys))], device=input_ids.device)
    suffix_cols = split[:, None] + torch.arange(s, device=input_ids.device)
    return PrefixPlan(
        group=group_t,
        split=split,
        prefix_ids=input_ids[first_row, :p],
        prefix_mask=(columns[:p] < split[first_row][:, None]).to(attention_mask.dtype),
        suffix_ids=input_ids.gather(1, suffix_cols.clamp(max=length - 1)),
        suffix_mask=(suffix_cols < lengths[:, None]).to(attention_mask.dtype),
    )


def shared_prefix_hidden(backbone: torch.nn.Module, plan: PrefixPlan, rows: Tensor, cols: Tensor) -> Tensor:
    """The backbone's last hidden states at (`rows`, `cols`) of the batch `plan` splits, [N, H]: one forward
    over the distinct prefixes, whose key/value cache is selected to the rows (so gradients of all rows
    of a prefix add up in it), then one over the suffixes at positions continuing each row's prefix."""
    from transformers import DynamicCache

    cache = DynamicCache()
    prefix = backbone(input_ids=plan.prefix_ids, attention_mask=plan.prefix_mask, past_key_values=cache, use_cache=True).last_hidden_state
    cache.batch_select_indices(plan.group)
    g, p = plan.prefix_ids.shape
    s = plan.suffix_ids.shape[1]
    position_ids = plan.split[:, None] + torch.arange(s, device=plan.split.device)
    mask = torch.cat([plan.prefix_mask[plan.group], plan.suffix_mask], dim=1)
    suffix = backbone(input_ids=plan.suffix_ids, attention_mask=mask, position_ids=position_ids, past_key_values=cache, use_cache=True).last_hidden_state
    hidden = torch.cat([prefix.flatten(0, 1), suffix.flatten(0, 1)])
    source, start = cols - 1, plan.split[rows]  # the hidden state at col - 1 predicts the token at col
    index = torch.where(source < start, plan.group[rows] * p + source, g * p + rows * s + source - start)
    return hidden[index]


def sequence_logprobs(
    model: torch.nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    positions: Tensor | None = None,
    *,
    want_entropy: bool = False,
    entropy_grad: bool = False,
    chunk_tokens: int | None = None,
    chunk_mib: float = DEFAULT_CHUNK_MIB,
    share_prefix: bool = False,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor | None]:
    """Log-prob of each token given its prefix, [B, L], and optionally the entropy of the distribution it was
    drawn from, [B, L]; computed only where `positions` [B, L] is nonzero (everywhere after position 0 when
    None), 0 elsewhere. `chunk_tokens` (default: as many as fit `chunk_mib` MiB of fp32 logits) bounds the
    logits held at once. `share_prefix` runs rows with the same tokens before their first wanted position
    over one forward of those tokens (`plan_prefix_sharing`); the FSDP2 root always runs unshared.
    `temperature` T > 0: log-probs and entropies of softmax(logits / T), the distribution sampled at T
    (`policy_temperature` maps a sampling temperature, 0 for greedy, to this one); 1 is the raw model."""
    if not temperature > 0:
        raise ValueError(f"sequence_logprobs: temperature must be > 0 (1.0 for greedy rollouts), got {temperature}")
    if isinstance(model, ShardedPolicy):  # FSDP2: through the root's forward, so its hooks gather the shards
        return model(
            input_ids, attention_mask, positions, want_entropy=want_entropy, entropy_grad=entropy_grad, chunk_tokens=chunk_tokens, chunk_mib=chunk_mib, temperature=temperature
        )
    b, length = input_ids.shape
    wanted = torch.ones_like(input_ids, dtype=torch.bool) if positions is None else positions.bool().clone()
    wanted[:, 0] = False
    wanted &= attention_mask.bool()
    rows, cols = wanted.nonzero(as_tuple=True)
    targets = input_ids[rows, cols]
    parts = split_lm(model)
    if parts is not None:
        backbone, head = parts
        plan = plan_prefix_sharing(input_ids, attention_mask, wanted) if share_prefix and can_share_prefix(backbone) else None
        if plan is None:
            hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state[rows, cols - 1]
        else:
            hidden = shared_prefix_hidden(backbone, plan, rows, cols)
        chunk = chunk_tokens if chunk_tokens is not None else chunk_tokens_for(head.out_features, chunk_mib)
        flat_lp, flat_ent = head_logprobs(hidden, head, targets, chunk, want_entropy, entropy_grad, temperature)
    else:  # full logits (a head this module cannot split off)
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        flat_lp, flat_ent = _chunk_values(logits[rows, cols - 1], targets, want_entropy, entropy_grad, temperature)
        flat_ent = flat_ent if want_entropy else None
    logp = torch.zeros(b, length, dtype=torch.float32, device=input_ids.device).index_put((rows, cols), flat_lp)
    entropy = None
    if flat_ent is not None:
        entropy = torch.zeros(b, length, dtype=torch.float32, device=input_ids.device).index_put((rows, cols), flat_ent)
    return logp, entropy


class ShardedPolicy(torch.nn.Module):
    """The root of an FSDP2-sharded policy (`trainer/distributed.py`): its forward is `sequence_logprobs` of
    the wrapped causal LM (keywords such as `temperature` passed on), so the parameters outside the decoder
    layers (embedding, final norm, LM head) are gathered for the whole chunked log-prob pass and their
    gradients reduced after it."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, input_ids: Tensor, attention_mask: Tensor, positions: Tensor | None = None, **kwargs) -> tuple[Tensor, Tensor | None]:
        return sequence_logprobs(self.module, input_ids, attention_mask, positions, **kwargs)
