"""Advantage estimators against hand-computed numbers."""

import math

import pytest
import torch

from verigym.trainer.advantages import (
    ADVANTAGE_ESTIMATORS,
    AdvantageConfig,
    AdvantageInputs,
    compute_advantages,
    group_stats,
    turn_returns,
)


def single_turn(rewards, groups, components=None, weights=None):
    r = torch.tensor(rewards, dtype=torch.float32)[:, None]
    return AdvantageInputs(
        turn_rewards=r,
        turn_mask=torch.ones_like(r),
        groups=torch.tensor(groups),
        components=None if components is None else torch.tensor(components, dtype=torch.float32),
        component_weights=None if weights is None else torch.tensor(weights, dtype=torch.float32),
    )


# group 0: [1, 0, 0, 1] mean 0.5, unbiased std sqrt(1/3); group 1: [2, 4, 6] mean 4, std 2; group 2: singleton
REWARDS = [1.0, 0.0, 0.0, 1.0, 2.0, 4.0, 6.0, 5.0]
GROUPS = [0, 0, 0, 0, 1, 1, 1, 2]


def run(name, inputs, **kw):
    return compute_advantages(inputs, AdvantageConfig(estimator=name, **kw))[:, 0].tolist()


def test_registry_lists_every_estimator_and_rejects_unknown():
    assert set(ADVANTAGE_ESTIMATORS.names()) >= {"grpo", "dr_grpo", "rloo", "trloo", "gdpo"}
    with pytest.raises(ValueError, match="choose one of"):
        compute_advantages(single_turn([1.0], [0]), AdvantageConfig(estimator="nope"))


def test_group_stats():
    mean, std, count = group_stats(torch.tensor(REWARDS), torch.tensor(GROUPS))
    assert mean.tolist() == [0.5] * 4 + [4.0] * 3 + [5.0]
    assert std[0].item() == pytest.approx(math.sqrt(1 / 3))
    assert std[4].item() == pytest.approx(2.0)
    assert std[7].item() == 0.0 and count.tolist() == [4] * 4 + [3] * 3 + [1]


def test_grpo():
    s = 0.5 / math.sqrt(1 / 3)  # 0.8660
    expected = [s, -s, -s, s, -1.0, 0.0, 1.0, 0.0]
    assert run("grpo", single_turn(REWARDS, GROUPS), eps=0.0) == pytest.approx(expected, abs=1e-6)


def test_dr_grpo_has_no_std_division():
    expected = [0.5, -0.5, -0.5, 0.5, -2.0, 0.0, 2.0, 0.0]
    assert run("dr_grpo", single_turn(REWARDS, GROUPS)) == pytest.approx(expected, abs=1e-6)


def test_rloo_leaves_one_out():
    # 1 - mean(0,0,1) = 2/3 ; 0 - mean(1,0,1) = -2/3 ; 2 - mean(4,6) = -3 ; 4 - mean(2,6) = 0 ; 6 - mean(2,4) = 3
    expected = [2 / 3, -2 / 3, -2 / 3, 2 / 3, -3.0, 0.0, 3.0, 0.0]
    assert run("rloo", single_turn(REWARDS, GROUPS)) == pytest.approx(expected, abs=1e-6)


def test_episode_level_estimators_broadcast_to_every_played_turn():
    inputs = AdvantageInputs(
        turn_rewards=torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
        turn_mask=torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        groups=torch.tensor([7, 7]),
    )
    adv = compute_advantages(inputs, AdvantageConfig(estimator="dr_grpo"))
    assert adv.tolist() == [[0.5, 0.5, 0.0], [-0.5, 0.0, 0.0]]


# Three episodes of one group. ep0: 2 turns, rewards [0, 1]; ep1: 1 turn, [0.5]; ep2: 2 turns, [0, 0].
MULTI = AdvantageInputs(
    turn_rewards=torch.tensor([[0.0, 1.0], [0.5, 0.0], [0.0, 0.0]]),
    turn_mask=torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]]),
    groups=torch.tensor([3, 3, 3]),
)


def test_turn_returns_discount():
    assert turn_returns(MULTI.turn_rewards, MULTI.turn_mask, 1.0).tolist() == [[1.0, 1.0], [0.5, 0.0], [0.0, 0.0]]
    assert turn_returns(MULTI.turn_rewards, MULTI.turn_mask, 0.5).tolist() == [[0.5, 1.0], [0.5, 0.0], [0.0, 0.0]]


def test_trloo_undiscounted():
    # turn 0 (all three reached it): 1 - (0.5+0)/2 = 0.75 ; 0.5 - (1+0)/2 = 0 ; 0 - (1+0.5)/2 = -0.75
    # turn 1 (only ep0 and ep2): 1 - 0 = 1 ; 0 - 1 = -1 ; ep1 never played turn 1 -> 0
    adv = compute_advantages(MULTI, AdvantageConfig(estimator="trloo", gamma=1.0))
    torch.testing.assert_close(adv, torch.tensor([[0.75, 1.0], [0.0, 0.0], [-0.75, -1.0]]), check_dtype=False)


def test_trloo_discounted_and_lonely_turn():
    # gamma 0.5: returns ep0 [0.5, 1], ep1 [0.5], ep2 [0, 0]
    adv = compute_advantages(MULTI, AdvantageConfig(estimator="trloo", gamma=0.5))
    torch.testing.assert_close(adv, torch.tensor([[0.25, 1.0], [0.25, 0.0], [-0.5, -1.0]]), check_dtype=False)
    lonely = AdvantageInputs(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 0]))
    # turn 1 is reached by ep0 only: no baseline -> 0
    assert compute_advantages(lonely, AdvantageConfig(estimator="trloo")).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_gdpo_keeps_distinct_component_combinations_apart():
    # group 0: (c1, c2) = (0,0), (1,0) -> totals 0, 1 ; group 1: (0,0), (1,1) -> totals 0, 2.
    # GRPO gives both groups the same [-0.7071, 0.7071]; GDPO does not.
    inputs = single_turn([0.0, 1.0, 0.0, 2.0], [0, 0, 1, 1], [[0, 0], [1, 0], [0, 0], [1, 1]], [1.0, 1.0])
    grpo = run("grpo", inputs, eps=0.0)
    assert grpo[:2] == pytest.approx(grpo[2:])
    # per component within group (2 samples, values 0/1): -+0.7071; c2 in group 0 has no variance -> 0
    # sums: [-0.7071, 0.7071, -1.4142, 1.4142]; batch std (unbiased) = sqrt(5/3)
    s = math.sqrt(0.5)
    sums = [-s, s, -2 * s, 2 * s]
    std = math.sqrt(sum(x * x for x in sums) / 3)
    assert run("gdpo", inputs, eps=0.0) == pytest.approx([x / std for x in sums], abs=1e-6)


def test_gdpo_weights_components():
    # c1 = [1,1,0,0] -> +-sqrt(3)/2 ; c2 = [1,0,0,0] (mean .25, std .5) -> [1.5, -.5, -.5, -.5]; weights 1, 2
    inputs = single_turn([3.0, 1.0, 0.0, 0.0], [0] * 4, [[1, 1], [1, 0], [0, 0], [0, 0]], [1.0, 2.0])
    h = math.sqrt(3) / 2
    sums = [h + 3.0, h - 1.0, -h - 1.0, -h - 1.0]
    mean = sum(sums) / 4
    std = math.sqrt(sum((x - mean) ** 2 for x in sums) / 3)
    assert run("gdpo", inputs, eps=0.0) == pytest.approx([(x - mean) / std for x in sums], abs=1e-6)


def test_gdpo_without_components_says_what_is_missing():
    with pytest.raises(ValueError, match="per-component"):
        run("gdpo", single_turn([1.0, 0.0], [0, 0]))


# Per-turn (non-final) rewards, e.g. tool-use shaping: one group of three episodes.
# ep0: turn rewards [0.2, 1.0]; ep1: [0.1, 0.0, 0.5]; ep2: [0.0, 0.3]. Totals 1.2, 0.6, 0.3.
PER_TURN = [[0.2, 1.0], [0.1, 0.0, 0.5], [0.0, 0.3]]


def per_turn_records():
    from verigym.agents.records import EpisodeRecord, TurnRecord

    records = []
    for i, rewards in enumerate(PER_TURN):
        ids, mask, turn_index = [1, 2, 3], [0, 0, 0], [-1, -1, -1]  # the prompt
        for t in range(len(rewards)):
            ids += [10 + t, 11 + t, 5, 6]  # two sampled tokens, then two observation tokens
            mask += [1, 1, 0, 0]
            turn_index += [t, t, -1, -1]
        turns = [TurnRecord(action=f"a{t}", observation=[], reward=r) for t, r in enumerate(rewards)]
        records.append(EpisodeRecord(env_id="x", task_id="t", seed=7, policy="p", total_reward=sum(rewards), turns=len(rewards),
                                     turn_records=turns, token_ids=ids, loss_mask=mask, logprobs=[0.0] * len(ids), turn_index=turn_index))
    return records


def test_trloo_with_non_final_turn_rewards_by_hand():
    from verigym.trainer.batch import advantage_inputs, build_batch

    inputs = advantage_inputs(per_turn_records(), [], {})
    torch.testing.assert_close(inputs.turn_rewards, torch.tensor([[0.2, 1.0, 0.0], [0.1, 0.0, 0.5], [0.0, 0.3, 0.0]]))
    assert inputs.rewards.tolist() == pytest.approx([1.2, 0.6, 0.3])  # total_reward is the sum of turn rewards
    # gamma 1: reward-to-go ep0 [1.2, 1.0], ep1 [0.6, 0.5, 0.5], ep2 [0.3, 0.3]
    # turn 0: 1.2 - (0.6+0.3)/2 = 0.75 ; 0.6 - (1.2+0.3)/2 = -0.15 ; 0.3 - (1.2+0.6)/2 = -0.6
    # turn 1: 1.0 - (0.5+0.3)/2 = 0.6  ; 0.5 - (1.0+0.3)/2 = -0.15 ; 0.3 - (1.0+0.5)/2 = -0.45
    # turn 2: reached by ep1 only -> 0
    expected = [[0.75, 0.6, 0.0], [-0.15, -0.15, 0.0], [-0.6, -0.45, 0.0]]
    adv = compute_advantages(inputs, AdvantageConfig(estimator="trloo", gamma=1.0))
    torch.testing.assert_close(adv, torch.tensor(expected), check_dtype=False)
    # gamma 0.5: ep0 [0.2 + 0.5, 1.0] ; ep1 [0.1 + 0.5 * (0 + 0.5 * 0.5), 0.25, 0.5] = [0.225, 0.25, 0.5] ; ep2 [0.15, 0.3]
    # turn 0: 0.7 - (0.225+0.15)/2 = 0.5125 ; 0.225 - (0.7+0.15)/2 = -0.2 ; 0.15 - (0.7+0.225)/2 = -0.3125
    # turn 1: 1.0 - (0.25+0.3)/2 = 0.725 ; 0.25 - (1.0+0.3)/2 = -0.4 ; 0.3 - (1.0+0.25)/2 = -0.325
    adv = compute_advantages(inputs, AdvantageConfig(estimator="trloo", gamma=0.5))
    torch.testing.assert_close(adv, torch.tensor([[0.5125, 0.725, 0.0], [-0.2, -0.4, 0.0], [-0.3125, -0.325, 0.0]]), check_dtype=False)
    # the batch places each turn's advantage on that turn's sampled tokens only
    batch, _ = build_batch(per_turn_records(), AdvantageConfig(estimator="trloo", gamma=1.0))
    ep1 = batch.advantages[1].tolist()
    assert ep1[3:5] == pytest.approx([-0.15, -0.15]) and ep1[7:9] == pytest.approx([-0.15, -0.15]) and ep1[11:13] == [0.0, 0.0]
    assert batch.advantages[0, 3:5].tolist() == pytest.approx([0.75, 0.75]) and batch.advantages[0, 7:9].tolist() == pytest.approx([0.6, 0.6])
    assert (batch.advantages[batch.loss_mask == 0] == 0).all()
    # episode-level estimators see the sum: dr_grpo = total - group mean 0.7
    batch, turn_adv = build_batch(per_turn_records(), AdvantageConfig(estimator="dr_grpo"))
    assert turn_adv[:, 0].tolist() == pytest.approx([0.5, -0.1, -0.4])


def test_batch_drops_the_closing_observation_after_the_last_policy_token():
    from verigym.trainer.batch import build_batch

    records = per_turn_records()
    batch, _ = build_batch(records, AdvantageConfig(estimator="trloo"))
    # each episode ends with two observation tokens that nothing predicts: they are not in the batch
    assert batch.attention_mask.sum(-1).tolist() == [len(r.token_ids) - 2 for r in records]
    assert batch.input_ids.shape[1] == max(len(r.token_ids) for r in records) - 2
    assert batch.norm_len == max(len(r.token_ids) for r in records)  # Dr. GRPO's constant keeps the recorded length
