"""The update step: gradient accumulation invariance, zero gradient on masked tokens, LR schedule."""

import copy

import pytest
import torch

from verigym.trainer.batch import TrainBatch
from verigym.trainer.config import OptimConfig
from verigym.trainer.losses import LossConfig, compute_loss, LossInputs
from verigym.trainer.update import lr_lambda, token_logprobs, update_policy


def tiny_lm(vocab=32):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False)
    return Qwen2ForCausalLM(cfg).float()


def random_batch(n=8, vocab=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 12, (n,), generator=g)
    length = int(lengths.max())
    ids = torch.randint(0, vocab, (n, length), generator=g)
    attn = (torch.arange(length)[None] < lengths[:, None]).long()
    mask = ((torch.rand(n, length, generator=g) > 0.3) & attn.bool()).float()
    mask[:, 0] = 0
    ids = ids * attn
    adv = torch.randn(n, length, generator=g) * mask
    rollout = -torch.rand(n, length, generator=g) * 3 * mask
    return TrainBatch(ids, attn, mask, rollout, adv)


def run_update(model, batch, micro, loss_cfg, **optim):
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    before = [p.detach().clone() for p in model.parameters()]
    result = update_policy(model, optimizer, scheduler, batch, loss_cfg, OptimConfig(lr=1.0, grad_clip=0.0, micro_batch_size=micro, **optim), torch.device("cpu"))
    return [b - p.detach() for b, p in zip(before, model.parameters())], result


@pytest.mark.parametrize("aggregation", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize("policy_loss", ["ppo_clip", "gspo", "cispo"])
def test_gradient_accumulation_1x8_equals_8x1(aggregation, policy_loss):
    model = tiny_lm()
    batch = random_batch()
    cfg = LossConfig(policy_loss=policy_loss, aggregation=aggregation, tis_cap=2.0)
    full, r_full = run_update(copy.deepcopy(model), batch, micro=8, loss_cfg=cfg)
    accum, r_accum = run_update(copy.deepcopy(model), batch, micro=1, loss_cfg=cfg)
    assert r_full.optimizer_steps == r_accum.optimizer_steps == 1
    for a, b in zip(full, accum):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    assert sum(float(a.abs().sum()) for a in full) > 0
    assert r_full.metrics["loss/pg"] == pytest.approx(r_accum.metrics["loss/pg"], rel=1e-5, abs=1e-7)


def test_accumulation_differs_from_per_micro_batch_normalisation():
    """Guard that the test above can fail: normalising each micro-batch by its own tokens changes the update."""
    model = tiny_lm()
    batch = random_batch()
    cfg = LossConfig(tis_cap=None)
    grads = []
    for micro in (8, 1):
        m = copy.deepcopy(model)
        for start in range(0, 8, micro):
            mb = batch.select(slice(start, start + micro))
            logp, _ = token_logprobs(m, mb.input_ids, mb.attention_mask)
            loss, _ = compute_loss(LossInputs(logp, logp.detach(), mb.rollout_logprobs, mb.advantages, mb.loss_mask), cfg)
            loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert not torch.allclose(grads[0], grads[1], atol=1e-6)


def test_masked_tokens_get_zero_gradient_through_the_model():
    model = tiny_lm()
    batch = random_batch()
    logp, _ = token_logprobs(model, batch.input_ids, batch.attention_mask)
    logp.retain_grad()
    loss, _ = compute_loss(LossInputs(logp, logp.detach() + 0.05, batch.rollout_logprobs, batch.advantages, batch.loss_mask), LossConfig())
    loss.backward()
    assert (logp.grad[batch.loss_mask == 0] == 0).all()
    assert (logp.grad[batch.loss_mask == 1] != 0).any()


def test_changing_a_trailing_observation_token_does_not_change_the_update():
    model = tiny_lm()
    batch = random_batch()
    b = len(batch)
    last = batch.attention_mask.sum(-1) - 1
    batch.loss_mask[torch.arange(b), last] = 0.0  # the final token of each sequence is an observation token
    batch.advantages[torch.arange(b), last] = 0.0
    other = TrainBatch(batch.input_ids.clone(), batch.attention_mask, batch.loss_mask, batch.rollout_logprobs, batch.advantages)
    other.input_ids[torch.arange(b), last] = (other.input_ids[torch.arange(b), last] + 7) % 32
    d1, _ = run_update(copy.deepcopy(model), batch, 4, LossConfig())
    d2, _ = run_update(copy.deepcopy(model), other, 4, LossConfig())
    for a, c in zip(d1, d2):
        assert torch.equal(a, c)


def test_mini_batches_take_several_optimizer_steps_against_old_logprobs():
    model = tiny_lm()
    _, result = run_update(model, random_batch(), 4, LossConfig(), mini_batches=2)
    assert result.optimizer_steps == 2
    assert abs(result.metrics["loss/ratio_mean"] - 1.0) > 1e-4  # the second step sees ratios != 1


def test_lr_schedule():
    f = lr_lambda(OptimConfig(warmup_steps=2, schedule="linear", min_lr_ratio=0.0), total_steps=6)
    assert [f(s) for s in range(7)] == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    c = lr_lambda(OptimConfig(schedule="cosine", min_lr_ratio=0.1), total_steps=4)
    assert [c(s) for s in (0, 2, 4)] == pytest.approx([1.0, 0.55, 0.1])
    assert lr_lambda(OptimConfig(), 10)(5) == 1.0


@pytest.mark.parametrize("mini_batches", [1, 2])
def test_logprobs_at_the_sampling_temperature_match_an_engine_that_reports_tempered_ones(mini_batches):
    """rollout.temperature = 2: the engine reports log_softmax(logits / 2) of the sampled tokens. The update
    at that temperature sees no mismatch (TIS weights 1, ratio 1 on the first step, no KL to an identical
    reference); the untempered computation it replaced sees a large one. mini_batches=1 checks the policy
    pass (old = current), 2 the separate old-logprob pass."""
    model = tiny_lm()
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)  # a peaked distribution, as a trained model's, so that T matters
    batch = random_batch()
    with torch.no_grad():
        tempered, _ = token_logprobs(model, batch.input_ids, batch.attention_mask, positions=batch.loss_mask, temperature=2.0)
    batch.rollout_logprobs = tempered * batch.loss_mask
    loss_cfg = LossConfig(tis_cap=2.0, kl_coef=0.1)
    results = {}
    for temperature in (2.0, 1.0):
        m = copy.deepcopy(model)
        optimizer = torch.optim.SGD(m.parameters(), lr=1.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        optim = OptimConfig(lr=1.0, grad_clip=0.0, micro_batch_size=4, mini_batches=mini_batches)
        results[temperature] = update_policy(m, optimizer, scheduler, batch, loss_cfg, optim, torch.device("cpu"), copy.deepcopy(model), temperature=temperature).metrics
    at_t = results[2.0]
    assert abs(at_t["mismatch/kl_k1"]) < 1e-6 and at_t["mismatch/kl_k3"] < 1e-6
    assert at_t["mismatch/max_ratio"] == pytest.approx(1.0, abs=1e-5) and at_t["mismatch/min_ratio"] == pytest.approx(1.0, abs=1e-5)
    assert at_t["tis/weight_mean"] == pytest.approx(1.0, abs=1e-5) and at_t["tis/capped_frac"] == 0.0
    if mini_batches == 1:  # one step, on-policy: the ratio and the reference KL are exactly those of the start
        assert at_t["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-6) and abs(at_t["kl/ref"]) < 1e-6
    raw = results[1.0]
    assert raw["mismatch/kl_k1"] > 0.5 and raw["tis/weight_mean"] < 0.8  # measured: 1.34 and 0.52
