"""Policy losses, aggregation, KL estimators and importance correction against hand-computed numbers."""

import math

import pytest
import torch

from verigym.trainer.filtering import informative_groups
from verigym.trainer.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    POLICY_LOSSES,
    LossConfig,
    LossInputs,
    compute_loss,
    entropy_from_logits,
    rollout_mismatch,
    truncated_is_weights,
)

CFG = LossConfig(clip_low=0.2, clip_high=0.28, tis_cap=None)


def ratios_to_logp(ratios):
    old = torch.zeros(len(ratios))
    logp = torch.log(torch.tensor(ratios)).requires_grad_(True)
    return logp, old


def test_ppo_clip_asymmetric_bounds_values_and_gradients():
    logp, old = ratios_to_logp([0.5, 1.0, 1.5, 0.5, 1.0, 1.5])
    adv = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    mask = torch.ones(6)
    loss, diag = POLICY_LOSSES.get("ppo_clip")(logp, old, adv, mask, CFG)
    # A>0: max(-r, -clip(r)) -> r=.5: -.5 ; r=1: -1 ; r=1.5: -1.28 (clipped at 1+0.28)
    # A<0: max(r, clip(r))   -> r=.5: .8 (clipped at 1-0.2) ; r=1: 1 ; r=1.5: 1.5
    assert loss.tolist() == pytest.approx([-0.5, -1.0, -1.28, 0.8, 1.0, 1.5])
    assert diag["clipped"].tolist() == [0, 0, 1, 1, 0, 0]
    loss.sum().backward()
    # d(-A r)/d logp = -A r where unclipped, 0 where clipped
    assert logp.grad.tolist() == pytest.approx([-0.5, -1.0, 0.0, 0.0, 1.0, 1.5])


def test_ppo_dual_clip_caps_negative_advantage_loss():
    logp, old = ratios_to_logp([4.0, 4.0])
    adv = torch.tensor([-1.0, 1.0])
    loss, _ = POLICY_LOSSES.get("ppo_clip")(logp, old, adv, torch.ones(2), LossConfig(dual_clip=3.0))
    # A<0: max(4, 1.28) = 4 -> min(4, 3) = 3 ; A>0 untouched: max(-4, -1.28) = -1.28
    assert loss.tolist() == pytest.approx([3.0, -1.28])


def test_gspo_uses_the_sequence_ratio_and_its_gradient():
    old = torch.zeros(1, 2)
    logp = torch.tensor([[0.2, 0.0]], requires_grad=True)
    mask = torch.ones(1, 2)
    loss, diag = POLICY_LOSSES.get("gspo")(logp, old, torch.ones(1, 2), mask, CFG)
    s = math.exp(0.1)  # exp(mean(0.2, 0.0))
    torch.testing.assert_close(loss, torch.tensor([[-s, -s]]), check_dtype=False)
    AGGREGATIONS.get("seq-mean-token-mean")(loss, mask).backward()
    # the gradient of -exp(mean_t(logp_t - old_t)) w.r.t. each logp_t is -s/2
    torch.testing.assert_close(logp.grad, torch.tensor([[-s / 2, -s / 2]]), check_dtype=False)
    assert diag["clipped"].sum() == 0


def test_gspo_clips_whole_sequences():
    logp = torch.tensor([[0.6, 0.6]], requires_grad=True)
    loss, diag = POLICY_LOSSES.get("gspo")(logp, torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2), CFG)
    torch.testing.assert_close(loss, torch.tensor([[-1.28, -1.28]]), check_dtype=False)
    assert diag["clipped"].tolist() == [[1.0, 1.0]]
    loss.sum().backward()
    assert logp.grad.abs().sum() == 0


def test_cispo_clips_the_weight_not_the_gradient():
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    old = logp.detach() - torch.log(torch.tensor([0.5, 2.0]))  # ratios 0.5 and 2.0
    loss, diag = POLICY_LOSSES.get("cispo")(logp, old, torch.ones(2), torch.ones(2), CFG)
    # weights: 0.5 and min(2, 1.28) = 1.28 ; loss = -w * A * logp
    assert loss.tolist() == pytest.approx([0.5, 2.56])
    assert diag["clipped"].tolist() == [0.0, 1.0]
    loss.sum().backward()
    assert logp.grad.tolist() == pytest.approx([-0.5, -1.28])


LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_aggregations():
    assert AGGREGATIONS.get("token-mean")(LOSS, MASK).item() == pytest.approx(7 / 3)
    assert AGGREGATIONS.get("seq-mean-token-mean")(LOSS, MASK).item() == pytest.approx((1.5 + 4.0) / 2)
    assert AGGREGATIONS.get("seq-mean-token-sum-norm")(LOSS, MASK, norm_len=4).item() == pytest.approx(7 / 8)
    assert AGGREGATIONS.get("seq-mean-token-sum-norm")(LOSS, MASK).item() == pytest.approx(7 / 6)


def test_aggregation_with_batch_normalisers_sums_over_micro_batches():
    for name in AGGREGATIONS.names():
        full = AGGREGATIONS.get(name)(LOSS, MASK, norm_len=3)
        kw = dict(num_seqs=2, num_tokens=3, norm_len=3)
        parts = AGGREGATIONS.get(name)(LOSS[:1], MASK[:1], **kw) + AGGREGATIONS.get(name)(LOSS[1:], MASK[1:], **kw)
        assert parts.item() == pytest.approx(full.item()), name


def test_kl_estimators():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-2.0, -1.0])
    assert KL_ESTIMATORS.get("k1")(logp, ref).tolist() == pytest.approx([1.0, -1.0])
    assert KL_ESTIMATORS.get("k2")(logp, ref).tolist() == pytest.approx([0.5, 0.5])
    # k3 = e^d - d - 1, d = ref - logp = [-1, 1]
    assert KL_ESTIMATORS.get("k3")(logp, ref).tolist() == pytest.approx([math.exp(-1), math.e - 2])
    assert KL_ESTIMATORS.get("k3")(ref, ref).tolist() == [0.0, 0.0]


def test_truncated_importance_weights_and_mismatch():
    trainer = torch.tensor([[-1.0, -1.0]])
    rollout = torch.tensor([[-1.5, -0.5]])
    mask = torch.ones(1, 2)
    w = truncated_is_weights(trainer, rollout, mask, cap=1.5)
    torch.testing.assert_close(w, torch.tensor([[1.5, math.exp(-0.5)]]))  # e^0.5 = 1.65 capped at 1.5
    torch.testing.assert_close(truncated_is_weights(trainer, rollout, mask, cap=1.5, level="sequence"), torch.tensor([[1.0, 1.0]]), check_dtype=False)
    m = rollout_mismatch(trainer, rollout, mask)
    assert m["mismatch/kl_k1"] == pytest.approx(0.0)
    assert m["mismatch/kl_k3"] == pytest.approx((math.exp(0.5) - 1.5 + math.exp(-0.5) - 0.5) / 2)
    assert m["mismatch/max_ratio"] == pytest.approx(math.exp(0.5))
    assert m["mismatch/min_ratio"] == pytest.approx(math.exp(-0.5))


def test_compute_loss_applies_tis_kl_and_aggregation():
    logp = torch.tensor([[-1.0, -1.0, -3.0]], requires_grad=True)
    old = logp.detach().clone()
    rollout = torch.tensor([[-1.5, -0.5, 0.0]])
    ref = torch.tensor([[-2.0, -1.0, 0.0]])
    adv = torch.tensor([[1.0, 1.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    cfg = LossConfig(tis_cap=1.5, kl_coef=0.1, kl_estimator="k1")
    loss, stats = compute_loss(LossInputs(logp, old, rollout, adv, mask, ref), cfg)
    # ratio 1 -> pg = -1 per token, weighted by TIS [1.5, e^-0.5]; k1 = [1, 0]
    expected = ((-1.5 + 0.1 * 1.0) + (-math.exp(-0.5) + 0.0)) / 2
    assert loss.item() == pytest.approx(expected)
    assert stats["kl_ref"].item() == pytest.approx(1.0)
    loss.backward()
    assert logp.grad[0, 2].item() == 0.0  # masked token
    with pytest.raises(ValueError, match="reference logprobs"):
        compute_loss(LossInputs(logp, old, rollout, adv, mask), cfg)


@pytest.mark.parametrize("name", ["ppo_clip", "gspo", "cispo"])
@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_masked_tokens_get_exactly_zero_gradient(name, agg):
    torch.manual_seed(0)
    logp = (torch.randn(3, 5) - 2).requires_grad_(True)
    old = logp.detach() + 0.1 * torch.randn(3, 5)
    mask = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 0, 0, 1]], dtype=torch.float32)
    cfg = LossConfig(policy_loss=name, aggregation=agg, tis_cap=2.0)
    loss, _ = compute_loss(LossInputs(logp, old, old - 0.05, torch.randn(3, 5), mask), cfg)
    loss.backward()
    assert (logp.grad[mask == 0] == 0).all()
    assert (logp.grad[mask == 1] != 0).any()


def test_entropy_from_logits():
    assert entropy_from_logits(torch.zeros(2, 4)).tolist() == pytest.approx([math.log(4)] * 2)
    assert entropy_from_logits(torch.tensor([[0.0, -1e4]])).item() == pytest.approx(0.0, abs=1e-6)


def test_dynamic_sampling_keeps_only_groups_with_reward_variance():
    rewards = [1.0, 1.0, 0.0, 1.0, 2.0, 2.0, 5.0]
    groups = ["a", "a", "b", "b", "c", "c", "d"]
    assert informative_groups(rewards, groups) == {"b"}


def test_entropy_bonus_is_subtracted_per_token():
    logp = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    entropy = torch.tensor([[2.0, 4.0]])
    inputs = LossInputs(logp, logp.detach(), logp.detach(), torch.ones(1, 2), torch.ones(1, 2), None, entropy)
    plain, _ = compute_loss(inputs, LossConfig(tis_cap=None))
    bonus, _ = compute_loss(inputs, LossConfig(tis_cap=None, entropy_coef=0.1))
    assert bonus.item() == pytest.approx(plain.item() - 0.1 * 3.0)
    with pytest.raises(ValueError, match="entropy"):
        compute_loss(LossInputs(logp, logp.detach(), logp.detach(), torch.ones(1, 2), torch.ones(1, 2)), LossConfig(entropy_coef=0.1))
