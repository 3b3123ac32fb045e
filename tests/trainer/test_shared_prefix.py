"""Prefix sharing: rows with the same prompt run it once, with the numbers and gradients of separate forwards."""

from __future__ import annotations

import pytest
import torch

from verigym.trainer.batch import TrainBatch
from verigym.trainer.config import OptimConfig
from verigym.trainer.logprobs import can_share_prefix, chunk_tokens_for, head_logprobs, plan_prefix_sharing, sequence_logprobs, split_lm
from verigym.trainer.losses import LossConfig
from verigym.trainer.update import update_policy

VOCAB = 40


def tiny_lm(attn: str = "sdpa", **overrides) -> torch.nn.Module:
    """A random 2-layer Qwen2 with grouped-query attention (4 query heads, 2 key/value heads)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, **overrides)
    cfg._attn_implementation = attn
    model = Qwen2ForCausalLM(cfg).float()
    model.config.use_cache = False  # as `load_policy_model` sets it: the shared path passes its cache explicitly
    return model


def grouped_batch(prompt_lengths=(5, 9, 7), samples=4, singleton=True, idle_row=False, seed=0):
    """Right-padded rows: `samples` completions (2-7 tokens) of each prompt, then one row with a prompt of its
    own and, with `idle_row`, one more sample of the first prompt without policy tokens.
    Returns (input_ids, attention_mask, loss_mask)."""
    g = torch.Generator().manual_seed(seed)

    def draw(n: int) -> torch.Tensor:
        return torch.randint(1, VOCAB, (n,), generator=g)

    rows = []
    for plen in prompt_lengths:
        prompt = draw(plen)
        rows += [(prompt, draw(int(torch.randint(2, 8, (1,), generator=g))), True) for _ in range(samples)]
    if singleton:
        rows.append((draw(6), draw(3), True))
    if idle_row:
        rows.append((rows[0][0], draw(4), False))
    width = max(len(p) + len(c) for p, c, _ in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    attn, loss_mask = torch.zeros_like(ids), torch.zeros(len(rows), width)
    for i, (prompt, completion, policy) in enumerate(rows):
        n = len(prompt) + len(completion)
        ids[i, :n], attn[i, :n] = torch.cat([prompt, completion]), 1
        loss_mask[i, len(prompt) : n] = float(policy)
    return ids, attn, loss_mask


def logprobs_and_grads(model, ids, attn, mask, share_prefix, weights):
    model.zero_grad(set_to_none=True)
    lp, ent = sequence_logprobs(model, ids, attn, mask, want_entropy=True, entropy_grad=True, share_prefix=share_prefix)
    ((lp * weights).sum() + 0.1 * ent.sum()).backward()
    return lp.detach(), ent.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("idle_row", [False, True])
def test_shared_values_match_unshared_and_each_prompt_runs_once(attn, idle_row):
    model = tiny_lm(attn)
    ids, mask_2d, loss_mask = grouped_batch(idle_row=idle_row)
    plan = plan_prefix_sharing(ids, mask_2d, loss_mask.bool())
    # 3 prompts + the singleton (+ the idle row, whose prefix is all of it), padded to the longest
    assert plan is not None and plan.prefix_ids.shape == (4 + idle_row, 9)
    seen = []
    model.model.embed_tokens.register_forward_hook(lambda mod, args, out: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        ref_lp, ref_ent = sequence_logprobs(model, ids, mask_2d, loss_mask, want_entropy=True)
        seen.clear()
        lp, ent = sequence_logprobs(model, ids, mask_2d, loss_mask, want_entropy=True, share_prefix=True)
    assert seen == [tuple(plan.prefix_ids.shape), tuple(plan.suffix_ids.shape)]
    assert (lp - ref_lp).abs().max() <= 1e-5 and (ent - ref_ent).abs().max() <= 1e-5
    wanted = loss_mask.bool()
    assert (lp[~wanted] == 0).all() and (ent[~wanted] == 0).all()
    assert (lp[wanted] != 0).all()


def test_shared_gradients_match_unshared():
    """The prefix computation receives the sum of its rows' gradients. Measured: max |diff| ~1e-6 on
    gradients up to ~10 (fp32 rounding of different matrix shapes), within rtol 1e-4, atol 1e-6."""
    model = tiny_lm()
    ids, attn, loss_mask = grouped_batch()
    weights = torch.randn(ids.shape, generator=torch.Generator().manual_seed(3))
    lp0, ent0, grads0 = logprobs_and_grads(model, ids, attn, loss_mask, False, weights)
    lp1, ent1, grads1 = logprobs_and_grads(model, ids, attn, loss_mask, True, weights)
    torch.testing.assert_close(lp1, lp0, rtol=0, atol=1e-5)
    torch.testing.assert_close(ent1, ent0, rtol=0, atol=1e-5)
    for name, grad in grads0.items():
        torch.testing.assert_close(grads1[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    assert sum(float(g.abs().sum()) for g in grads0.values()) > 0


def reference_logprobs(model, ids, attn, mask, weights):
    """The unshared computation as written before prefix sharing: one backbone forward, chunked head."""
    backbone, head = split_lm(model)
    wanted = mask.bool().clone()
    wanted[:, 0] = False
    wanted &= attn.bool()
    rows, cols = wanted.nonzero(as_tuple=True)
    hidden = backbone(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
    flat_lp, flat_ent = head_logprobs(hidden[rows, cols - 1], head, ids[rows, cols], chunk_tokens_for(VOCAB), True, True)
    lp = torch.zeros(ids.shape).index_put((rows, cols), flat_lp)
    ent = torch.zeros(ids.shape).index_put((rows, cols), flat_ent)
    model.zero_grad(set_to_none=True)
    ((lp * weights).sum() + 0.1 * ent.sum()).backward()
    return lp.detach(), ent.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("distinct", [True, False])
def test_unshared_and_fallback_are_the_old_path_bit_for_bit(distinct):
    """share_prefix=False is the old computation exactly; so is share_prefix=True on distinct prompts."""
    model = tiny_lm()
    ids, attn, loss_mask = grouped_batch(prompt_lengths=(5, 9, 7, 6), samples=1 if distinct else 4, singleton=False)
    assert (plan_prefix_sharing(ids, attn, loss_mask.bool()) is None) == distinct
    weights = torch.randn(ids.shape, generator=torch.Generator().manual_seed(3))
    ref = reference_logprobs(model, ids, attn, loss_mask, weights)
    for share_prefix in ([False, True] if distinct else [False]):
        got = logprobs_and_grads(model, ids, attn, loss_mask, share_prefix, weights)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        assert all(torch.equal(got[2][n], g) for n, g in ref[2].items())


def test_sharing_needs_a_long_enough_prefix_and_a_saving():
    ids, attn, loss_mask = grouped_batch(prompt_lengths=(3, 3), singleton=False)  # prompts below MIN_SHARED_PREFIX
    assert plan_prefix_sharing(ids, attn, loss_mask.bool()) is None
    ids, attn, loss_mask = grouped_batch(prompt_lengths=(6,), samples=2, singleton=False)
    loss_mask[1] = 0  # row 1 without policy tokens: its prefix is its whole row, nothing is shared
    assert plan_prefix_sharing(ids, attn, loss_mask.bool()) is None
    ids, attn, loss_mask = grouped_batch()
    assert plan_prefix_sharing(ids, attn, loss_mask.bool()) is not None
    assert plan_prefix_sharing(ids.flip(-1), attn.flip(-1), loss_mask.flip(-1).bool()) is None  # left padding


def test_only_verified_decoders_share():
    assert can_share_prefix(tiny_lm().model)
    assert not can_share_prefix(tiny_lm(use_sliding_window=True, sliding_window=4, max_window_layers=0).model)
    assert not can_share_prefix(tiny_lm("flex_attention").model)
    checkpointed = tiny_lm()
    checkpointed.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert not can_share_prefix(checkpointed.model)


@pytest.mark.parametrize("micro, minis", [(13, 1), (8, 2)])
def test_update_with_and_without_sharing_agree(micro, minis):
    """One optimizer step per mini-batch; (8, 2) also takes the old-logprob pass, and its mini-batches of 7
    and 6 rows split the second prompt's samples (both still share)."""
    ids, attn, loss_mask = grouped_batch()
    g = torch.Generator().manual_seed(5)
    batch = TrainBatch(ids, attn, loss_mask, -torch.rand(ids.shape, generator=g) * loss_mask, torch.randn(ids.shape, generator=g) * loss_mask)
    params = []
    for share_prefix in (False, True):
        model = tiny_lm()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        optim = OptimConfig(lr=1.0, grad_clip=0.0, micro_batch_size=micro, mini_batches=minis, share_prefix=share_prefix)
        result = update_policy(model, optimizer, scheduler, batch, LossConfig(entropy_coef=0.01), optim, torch.device("cpu"))
        assert result.optimizer_steps == minis
        params.append([p.detach().clone() for p in model.parameters()])
    initial = list(tiny_lm().parameters())
    assert any(not torch.equal(p, q) for p, q in zip(params[0], initial))
    for a, b in zip(params[0], params[1]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)



# The shared path's hidden states differ from a separate forward's by fp32 rounding (other matrix shapes), with
# or without a temperature; measured against log_softmax(full logits / T): 4.8e-7 (logprobs), 9.5e-7 (entropy).
SHARED_ROUNDING = 5e-6


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_shared_prefix_values_at_a_temperature_are_log_softmax_of_logits_over_t(temperature):
    """With `share_prefix`, log-probs and entropies are log_softmax(logits / T) of the shared forward's own
    logits within 1e-6 (measured: identical), and those of a full forward within SHARED_ROUNDING; unshared,
    the full forward's within 1e-6 (identical)."""
    from verigym.trainer.logprobs import shared_prefix_hidden

    model = tiny_lm()
    ids, attn, loss_mask = grouped_batch()
    plan = plan_prefix_sharing(ids, attn, loss_mask.bool())
    assert plan is not None
    wanted = loss_mask.bool()
    rows, cols = wanted.nonzero(as_tuple=True)

    def tempered(logits):
        logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
        return logp_all.gather(-1, ids[rows, cols][:, None]).squeeze(-1), -(logp_all.exp() * logp_all).sum(-1)

    with torch.no_grad():
        full_lp, full_ent = tempered(model(input_ids=ids, attention_mask=attn, use_cache=False).logits[rows, cols - 1])
        backbone, head = split_lm(model)
        own_lp, own_ent = tempered(head(shared_prefix_hidden(backbone, plan, rows, cols)))
        raw_lp, _ = sequence_logprobs(model, ids, attn, loss_mask)
        lp, ent = sequence_logprobs(model, ids, attn, loss_mask, want_entropy=True, temperature=temperature)
        assert (lp[wanted] - full_lp).abs().max() <= 1e-6 and (ent[wanted] - full_ent).abs().max() <= 1e-6
        lp, ent = sequence_logprobs(model, ids, attn, loss_mask, want_entropy=True, share_prefix=True, temperature=temperature)
    assert (lp[wanted] - own_lp).abs().max() <= 1e-6 and (ent[wanted] - own_ent).abs().max() <= 1e-6
    assert (lp[wanted] - full_lp).abs().max() <= SHARED_ROUNDING and (ent[wanted] - full_ent).abs().max() <= SHARED_ROUNDING
    assert (lp[~wanted] == 0).all() and (ent[~wanted] == 0).all()
    assert (lp[wanted] - raw_lp[wanted]).abs().max() > 0.05  # the temperature matters at these values
