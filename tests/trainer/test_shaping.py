"""Reward shaping methods against hand-computed numbers, the pipeline that applies them, and their config."""

from __future__ import annotations

import math
import random

import pytest

from verigym.agents.records import EpisodeRecord, TurnRecord
from verigym.trainer.checkpoint import TrainerState
from verigym.trainer.config import TrainerConfig, from_dict
from verigym.trainer.shaping import SHAPERS, EpisodeView, RewardShaping, ShapingConfig, ShapingContext, problem_key
from verigym.trainer.shaping.hapo import Hapo, HapoConfig, hapo_length_reward
from verigym.trainer.shaping.length_budget import LengthBudget, LengthBudgetConfig, budget_at, length_efficiency
from verigym.trainer.shaping.noisy_verifier import NoisyVerifier, NoisyVerifierConfig, backward_corrected, estimate_noise_rates, load_labelled
from verigym.trainer.shaping.otc import Otc, OtcConfig, tool_reward
from verigym.trainer.shaping.rlcr import Rlcr, RlcrConfig, brier, expected_calibration_error, parse_confidence

R2 = math.sqrt(2) / 2  # cos(pi/4)


def ep(problem="p", correct=True, length=10, tool_calls=0, final="", components=None):
    return EpisodeView(problem, 0, correct, length, tool_calls, final, components or {}, 0.0)


def test_shaping_is_off_by_default():
    assert TrainerConfig().shaping.methods == []
    assert not RewardShaping(ShapingConfig()).enabled


def test_hapo_length_reward_by_hand():
    assert hapo_length_reward(5, None, True) == 0.0  # no correct response yet: no length signal
    assert hapo_length_reward(5, 10, True) == pytest.approx(R2)  # cos(0.5 * pi/2)
    assert hapo_length_reward(10, 10, True) == pytest.approx(0.0, abs=1e-12)
    assert hapo_length_reward(15, 10, True) == pytest.approx(-0.7)  # cos(0.75 pi) = -0.707, floored at -0.7
    assert hapo_length_reward(5, 10, False) == 0.0  # a short wrong answer is not rewarded for being short
    assert hapo_length_reward(15, 10, False) == pytest.approx(-R2)
    assert hapo_length_reward(40, 10, False) == pytest.approx(-1.0)  # capped at 2h


def test_hapo_history_is_from_earlier_steps_and_survives_a_state_round_trip():
    hapo = Hapo(HapoConfig(weight=1.0), ShapingContext())
    first = hapo.shape([ep(length=8), ep(length=12), ep(correct=False, length=4)], [1.0, 1.0, 0.0], step=1)
    assert first.rewards == [1.0, 1.0, 0.0]  # no history yet
    assert hapo.state_dict() == {"history": {"p": 8}}
    restored = Hapo(HapoConfig(weight=1.0), ShapingContext())
    restored.load_state_dict(hapo.state_dict())
    second = restored.shape([ep(length=4), ep(length=8), ep(correct=False, length=16)], [1.0, 1.0, 0.0], step=2)
    assert second.rewards == pytest.approx([1.0 + R2, 1.0, -1.0])
    assert second.metrics["correct_length"] == 6.0 and second.metrics["with_history"] == 1.0
    assert restored.state_dict() == {"history": {"p": 4}}


def test_length_budget_schedules_and_reward_by_hand():
    exp = LengthBudgetConfig(initial=256, final=32, decay=0.5, interval=50)
    assert [budget_at(exp, s) for s in (1, 50, 51, 101, 151, 201)] == [256, 256, 128, 64, 32, 32]
    lin = LengthBudgetConfig(schedule="linear", initial=200, final=100, decay_steps=100)
    assert [budget_at(lin, s) for s in (1, 51, 101, 500)] == [200, 150, 100, 100]
    assert length_efficiency(100, 128, True) == 1.0
    assert length_efficiency(192, 128, True) == 0.5
    assert length_efficiency(300, 128, True) == 0.0
    assert length_efficiency(10, 128, False) == 0.0
    shaper = LengthBudget(LengthBudgetConfig(initial=256, final=32, decay=0.5, interval=50, weight=0.5), ShapingContext())
    out = shaper.shape([ep(length=100), ep(length=192), ep(correct=False, length=10)], [1.0, 1.0, 0.2], step=51)
    assert out.rewards == pytest.approx([1.5, 1.25, 0.2])
    assert out.metrics["budget"] == 128 and out.metrics["over_budget"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="schedule"):
        LengthBudgetConfig(schedule="step")


def test_otc_tool_reward_by_hand():
    assert tool_reward(0, 0) == 1.0
    assert tool_reward(2, 0, c=1.0) == pytest.approx(math.cos(2 * math.pi / 5))  # 0.309
    assert tool_reward(1, None, c=1.0) == pytest.approx(0.5)  # no correct episode yet: optimum taken as 0
    assert tool_reward(2, 2) == pytest.approx(1.0)
    assert tool_reward(4, 2) == pytest.approx(math.sqrt(3) / 2)  # f = 16/6, sin(2/3 pi)
    assert tool_reward(1, 2) == pytest.approx(math.sqrt(3) / 2)  # f = 4/3, sin(pi/3)


def test_otc_scales_only_the_correctness_part_and_keeps_the_fewest_calls():
    ctx = ShapingContext({"correct": 2.0, "format": 0.2}, "correct")
    otc = Otc(OtcConfig(), ctx)
    comps = {"correct": 1.0, "format": 1.0}
    episodes = [ep(tool_calls=2, components=comps), ep(tool_calls=4, components=comps), ep(correct=False, tool_calls=1, components={"correct": 0.0, "format": 1.0})]
    out = otc.shape(episodes, [2.2, 2.2, 0.2], step=1)
    # 2 calls is the optimum; 4 calls keeps sqrt(3)/2 of the correctness weight 2
    assert out.rewards == pytest.approx([2.2, 0.2 + 2.0 * math.sqrt(3) / 2, 0.2])
    assert otc.state_dict() == {"fewest": {"p": 2}}
    assert out.metrics["tool_calls"] == pytest.approx(7 / 3) and out.metrics["productivity"] == pytest.approx(2 / 7)


def test_rlcr_parsing_brier_and_ece_by_hand():
    assert parse_confidence("<answer>3</answer><confidence>0.8</confidence>") == 0.8
    assert parse_confidence("<confidence> 90% </confidence>") == pytest.approx(0.9)
    assert parse_confidence("<confidence>1.5</confidence>") is None
    assert parse_confidence("no tag") is None
    assert brier([0.85, 0.95, 0.15, 0.05], [1, 0, 0, 0]) == pytest.approx(0.95 / 4)
    # bin 8 holds 0.82 and 0.88 (mean c 0.5 vs mean q 0.85), bin 3 holds 0.3 (c 0)
    assert expected_calibration_error([0.82, 0.88, 0.3], [1, 0, 0]) == pytest.approx(2 / 3 * 0.35 + 1 / 3 * 0.3)
    rlcr = Rlcr(RlcrConfig(weight=1.0, missing_penalty=1.0), ShapingContext())
    tag = "<answer>3</answer><confidence>0.8</confidence>"
    out = rlcr.shape([ep(final=tag), ep(correct=False, final=tag), ep(final="<answer>3</answer>")], [1.0, 0.0, 1.0], step=1)
    assert out.rewards == pytest.approx([0.96, -0.64, 0.0])
    assert out.metrics["brier"] == pytest.approx((0.04 + 0.64) / 2)
    assert out.metrics["stated"] == pytest.approx(2 / 3)


def test_noisy_verifier_backward_correction_by_hand():
    assert backward_corrected(1.0, 0.2, 0.1) == pytest.approx(0.8 / 0.7)
    assert backward_corrected(0.0, 0.2, 0.1) == pytest.approx(-0.2 / 0.7)
    assert estimate_noise_rates([1, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1, 1]) == (0.25, 0.25)
    shaper = NoisyVerifier(NoisyVerifierConfig(fp_rate=0.2, fn_rate=0.1), ShapingContext({"correct": 1.0, "format": 0.2}))
    out = shaper.shape([ep(components={"correct": 1.0, "format": 1.0}), ep(correct=False, components={"correct": 0.0, "format": 1.0})], [1.2, 0.2], step=1)
    assert out.rewards == pytest.approx([0.2 + 0.8 / 0.7, 0.2 - 0.2 / 0.7])
    with pytest.raises(ValueError, match="fp_rate"):
        NoisyVerifier(NoisyVerifierConfig(fp_rate=0.6, fn_rate=0.5), ShapingContext())


def test_noisy_verifier_corrected_reward_is_unbiased_where_the_raw_one_is_not(tmp_path):
    rng = random.Random(0)
    fp, fn, n = 0.2, 0.1, 100_000
    for p in (0.1, 0.4, 0.9):  # problems of different true success rates
        true = [rng.random() < p for _ in range(n)]
        observed = [(rng.random() >= fn) if t else (rng.random() < fp) for t in true]
        raw = sum(observed) / n
        corrected = sum(backward_corrected(float(o), fp, fn) for o in observed) / n
        assert raw == pytest.approx(fp + (1 - fp - fn) * p, abs=0.01)  # the channel's bias, 0.17 / 0.08 / -0.07
        assert abs(raw - p) > 0.05
        assert corrected == pytest.approx(p, abs=0.01)
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("\n".join(f'{{"observed": {int(o)}, "true": {int(t)}}}' for o, t in zip(observed[:20_000], true[:20_000])))
    est_fp, est_fn = load_labelled(labelled)
    assert est_fp == pytest.approx(fp, abs=0.03) and est_fn == pytest.approx(fn, abs=0.01)


def record(seed, digits, rewards=(0.1, 1.0), success=True, loss_mask=(0, 1, 1, 1), task_id=None):
    turns = [TurnRecord(action="<answer>1</answer>", observation=[], reward=r) for r in rewards]
    return EpisodeRecord(
        env_id="copy-digits-v0", task_id=task_id or f"copy-{seed}", seed=seed, policy="t", total_reward=sum(rewards),
        success=success, components={"correct": float(success)}, turns=len(turns), task_json=f'{{"digits":"{digits}","seed":{seed},"task_id":"copy-{seed}"}}',
        turn_records=turns, token_ids=list(range(len(loss_mask))), loss_mask=list(loss_mask), logprobs=[0.0] * len(loss_mask),
    )


def test_problem_key_by_content_ignores_the_seed():
    assert problem_key(record(1, "7")) == problem_key(record(2, "7")) != problem_key(record(3, "8"))
    assert problem_key(record(1, "7"), "task_id") == "copy-1"


def test_pipeline_puts_the_delta_on_the_last_turn_and_as_a_component():
    shaping = RewardShaping(ShapingConfig(methods=["hapo"], problem_key="task_id"), {"correct": 1.0})
    shaping.load_state_dict({"hapo": {"history": {"copy-1": 6}}})
    original = record(1, "7")
    [shaped], metrics = shaping.apply([original], step=3)
    assert [t.reward for t in shaped.turn_records] == pytest.approx([0.1, 1.0 + R2])  # 3 policy tokens vs h = 6
    assert shaped.total_reward == pytest.approx(1.1 + R2)
    assert shaped.components["shaping.hapo"] == pytest.approx(R2) and shaping.component_names == ["shaping.hapo"]
    assert original.turn_records[-1].reward == 1.0  # inputs untouched
    assert metrics["shaping/hapo/length_reward"] == pytest.approx(R2)
    assert metrics["reward/shaped_mean"] == pytest.approx(1.1 + R2)
    assert shaping.state_dict() == {"hapo": {"history": {"copy-1": 3}}}


def test_shaping_config_from_toml_tables_and_errors():
    cfg = from_dict(TrainerConfig, {"shaping": {"methods": ["hapo", "rlcr"], "hapo": {"weight": 0.5}}}).validate()
    assert cfg.shaping.hapo.weight == 0.5 and cfg.shaping.rlcr.bins == 10
    with pytest.raises(ValueError, match="choose from"):
        from_dict(TrainerConfig, {"shaping": {"methods": ["nope"]}}).validate()
    with pytest.raises(ValueError, match="unknown key"):
        from_dict(TrainerConfig, {"shaping": {"hapo": {"wieght": 1}}})
    assert set(SHAPERS.names()) >= {"hapo", "length_budget", "otc", "rlcr", "noisy_verifier", "verpo", "checklist"}


@pytest.mark.timeout(10)
def test_new_methods_switch_on_from_toml():
    import tomllib

    text = """
[algorithm]
advantage = "canon"
canon_metric = "entropy"
canon_mu = 0.9
[shaping]
methods = ["noisy_verifier", "checklist"]
noisy_verifier = { mode = "forward", fn_rate = 0.1 }
checklist = { alpha = 0.3, mode = "all" }
"""
    cfg = from_dict(TrainerConfig, tomllib.loads(text)).validate()
    assert (cfg.algorithm.advantage, cfg.algorithm.canon_metric, cfg.algorithm.canon_mu) == ("canon", "entropy", 0.9)
    assert cfg.shaping.noisy_verifier.mode == "forward" and cfg.shaping.checklist.alpha == 0.3
    assert [s.name for s in RewardShaping(cfg.shaping).shapers] == ["noisy_verifier", "checklist"]


def test_trainer_state_carries_shaping_state_through_json():
    import json
    from dataclasses import asdict

    state = TrainerState(step=2, shaping={"hapo": {"history": {"abc": 3}}})
    assert TrainerState(**json.loads(json.dumps(asdict(state)))) == state
    assert TrainerState(**{"step": 1, "next_seed": 0, "episodes_seen": 0, "evals": {}}).shaping == {}  # older checkpoints


@pytest.fixture(scope="module")
def parity_env_id():
    """copy-digits prompts (one digit: 10 distinct problems) judged correct when the reply has an even length,
    so a random tiny model is right about half the time and HAPO's histories fill within a few steps."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class ParityEnv(CopyDigitsEnv):
        env_id = "parity-length-v0"

        def on_turn(self, action):
            ok = len(action) % 2 == 0
            verdict = Verdict(ok, float(ok), {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": float(ok)})
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=verdict, malformed=None if ok else "odd length")

    if "parity-length-v0" not in get_registry().envs.names():
        register_env("parity-length-v0", ParityEnv)
    return "parity-length-v0"


def test_training_with_shaping_and_hybrid_logs_its_metrics_and_resumes_exactly(tmp_path, tiny_model_dir, parity_env_id):
    from verigym.trainer import checkpoint as ckpt_mod
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    def config(run_dir):
        return from_dict(TrainerConfig, {
            "run_dir": str(run_dir), "seed": 1, "max_steps": 3, "model": {"path": str(tiny_model_dir)},
            "env": {"id": parity_env_id, "kwargs": {"min_len": 1, "max_len": 1}},
            "rollout": {"engine": "hf", "groups_per_step": 3, "group_size": 4, "max_tokens": 5},
            "algorithm": {"advantage": "hybrid", "process_coef": 0.5},
            "shaping": {"methods": ["hapo", "length_budget"], "length_budget": {"initial": 4, "final": 2, "interval": 1}, "process": {"scorer": "rules"}},
            "optim": {"lr": 1e-2, "micro_batch_size": 12}, "eval": {"episodes": 0}, "checkpoint": {"every": 1, "keep": 1},
            "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
        }).validate()

    def stable(rows):
        return [{k: v for k, v in r.items() if not k.startswith(("time/", "tokens_per_s"))} for r in rows]

    full = config(tmp_path / "full")
    Trainer(full).fit()
    reference = stable(read_metrics(full.run_dir))
    assert all("shaping/hapo/length_reward" in r and "shaping/length_budget/budget" in r for r in reference)
    assert [r["shaping/length_budget/budget"] for r in reference] == [4, 2, 2]
    assert all(-1.0 < r["shaping/process/mean"] < 0.0 for r in reference)  # some turns malformed, not all
    assert any(r["shaping/hapo/with_history"] > 0 for r in reference[1:])  # a problem came back with a history
    saved = json_state(ckpt_mod.latest_checkpoint(full.run_dir))
    assert saved["shaping"]["hapo"]["history"]

    cut = config(tmp_path / "cut")
    Trainer(cut, stop_after=2).fit()
    Trainer(cut).fit()  # resumes with step 2's histories
    assert stable(read_metrics(cut.run_dir)) == reference


def json_state(path):
    import json

    return json.loads((path / "trainer_state.json").read_text())


def test_rule_step_scorer_by_hand():
    from verigym.trainer.shaping.process import ProcessConfig, RuleStepScorer, process_rewards

    turns = [TurnRecord("a", [], malformed="no answer"), TurnRecord("b", []), TurnRecord("a", [])]
    assert process_rewards(turns, RuleStepScorer(ProcessConfig(scorer="rules", malformed=1.0, repeat=0.5))) == [-1.0, 0.0, -0.5]


def test_hybrid_estimator_by_hand():
    import torch

    from verigym.trainer.advantages import AdvantageConfig, AdvantageInputs, compute_advantages

    inputs = AdvantageInputs(
        turn_rewards=torch.tensor([[0.0, 1.0], [0.0, 0.0]]), turn_mask=torch.ones(2, 2), groups=torch.tensor([0, 0]),
        process_rewards=torch.tensor([[-1.0, 0.0], [0.0, 0.0]]),
    )
    adv = compute_advantages(inputs, AdvantageConfig("hybrid", process_coef=0.5))
    # outcome: returns [1, 0] -> +-0.5 / std 0.7071; process-to-go [-1, 0, 0, 0]: mean -0.25, std 0.5 -> [-1.5, 0.5, 0.5, 0.5]
    out = 0.5 / R2  # = 0.7071
    assert adv.flatten().tolist() == pytest.approx([out - 0.75, out + 0.25, -out + 0.25, -out + 0.25], abs=1e-5)
    with pytest.raises(ValueError, match="shaping.process.scorer"):
        compute_advantages(AdvantageInputs(inputs.turn_rewards, inputs.turn_mask, inputs.groups), AdvantageConfig("hybrid"))


def test_step_scorer_rewards_reach_the_advantage_inputs():
    from verigym.trainer.batch import advantage_inputs

    from verigym.trainer.shaping.process import ProcessConfig

    shaping = RewardShaping(ShapingConfig(process=ProcessConfig(scorer="rules")))
    a, b = record(1, "7"), record(2, "7")
    b.turn_records[0].malformed = "bad"
    shaped, metrics = shaping.apply([a, b], step=1)
    assert [r.metadata["process_rewards"] for r in shaped] == [[0.0, -0.5], [-1.0, -0.5]]  # both repeat their first action
    assert metrics["shaping/process/mean"] == pytest.approx(-0.5)
    inputs = advantage_inputs(shaped, ["correct"], {"correct": 1.0})
    assert inputs.process_rewards.tolist() == [[0.0, -0.5], [-1.0, -0.5]]
    assert advantage_inputs([a], ["correct"], {}).process_rewards is None
    with pytest.raises(ValueError, match="step scorer|scorer"):
        from_dict(TrainerConfig, {"shaping": {"process": {"scorer": "nope"}}}).validate()


def test_hybrid_without_a_step_scorer_is_refused_at_config_time():
    with pytest.raises(ValueError, match="shaping.process.scorer"):
        from_dict(TrainerConfig, {"algorithm": {"advantage": "hybrid"}}).validate()
    cfg = from_dict(TrainerConfig, {"algorithm": {"advantage": "hybrid", "process_coef": 0.5}, "shaping": {"process": {"scorer": "rules"}}}).validate()
    assert cfg.algorithm.process_coef == 0.5


def test_verpo_weights_hard_tests_more_by_hand():
    from verigym.trainer.shaping.verpo import Verpo, VerpoConfig, dense_credit

    # pass rates [1, 2/3, 1/3] -> weights [0, 1/3, 2/3]
    assert dense_credit([(1, 1, 1), (1, 1, 0), (1, 0, 0)]) == pytest.approx([1.0, 1 / 3, 0.0])
    assert dense_credit([(1, 1), (1, 1)]) == [1.0, 1.0]  # no spread: plain pass fraction
    verpo = Verpo(VerpoConfig(alpha=0.5), ShapingContext({"correct": 2.0}))
    eps = [
        EpisodeView("p", 0, True, 1, 0, "", {"correct": 1.0}, 0.0, (1, 1, 1)),
        EpisodeView("p", 0, False, 1, 0, "", {"correct": 0.0}, 0.0, (1, 1, 0)),
        EpisodeView("p", 0, False, 1, 0, "", {"correct": 0.0}, 0.0, (0, 1, 1)),
        EpisodeView("q", 1, False, 1, 0, "", {"correct": 0.0}, 0.0, None),  # no per-test outcomes: unchanged
    ]
    # group p: rates [2/3, 1, 2/3] -> weights [1/3, 0, 1/3]; e1 passes test 0 (d = 1/2), e2 passes test 2 (d = 1/2)
    out = verpo.shape(eps, [2.0, 0.0, 0.0, 0.3], step=1)
    assert out.rewards == pytest.approx([2.0, 0.5 * 2.0 * 0.5, 0.5 * 2.0 * 0.5, 0.3])
    assert out.metrics["with_tests"] == 0.75 and out.metrics["failed_credit"] == pytest.approx(0.5)
    assert out.metrics["mean_pass"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    with pytest.raises(ValueError, match="alpha"):
        Verpo(VerpoConfig(alpha=1.0), ShapingContext())


def test_per_test_outcomes_reach_the_episode_view():
    from verigym.trainer.shaping import episode_view

    r = record(1, "7")
    r.metadata["per_test"] = [1, 0, 1]
    assert episode_view(r).per_test == (1, 0, 1)
    assert episode_view(record(2, "7")).per_test is None


def test_collect_records_per_test_outcomes_a_verdict_reports():
    from verigym.agents.collect import collect
    from verigym.agents.scripted import OraclePolicy
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict

    class PerTestEnv(CopyDigitsEnv):
        env_id = "per-test-v0"

        def on_turn(self, action):
            comps = {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": 0.0}
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(False, 0.0, comps, {"per_test": [1, 0, True]}))

    (r,) = collect(PerTestEnv, OraclePolicy(), [5], schedule="lockstep")
    assert r.metadata["per_test"] == [1, 0, 1]


def test_code_python_reports_per_test_outcomes_for_verpo():
    from verigym.envs.actions import format_answer
    from verigym.plugins.registry import make

    env = make("code-python-v0", templates=("rotate",), time_floor_s=0.5, time_cap_s=1.0, give_up_after=2)
    try:
        env.reset(seed=7)
        half = "def rotate(xs):\n    return [] if not xs else list(xs)\n"  # passes some hidden tests, not all
        *_, info = env.step(format_answer(half))
    finally:
        env.close()
    details = info["verdict"].details
    assert len(details["per_test"]) == details["tests"] and sum(details["per_test"]) == details["passed"]
    assert 0 < details["passed"] < details["tests"]


# --- noisy-verifier forward correction, CANON, CM2-style checklist ---------------------------------------


@pytest.mark.timeout(10)
def test_noisy_verifier_forward_correction_by_hand():
    from verigym.trainer.shaping.noisy_verifier import forward_weight

    assert forward_weight(1.0, 0.1) == pytest.approx(0.1)  # w1 = rho1
    assert forward_weight(0.0, 0.1) == pytest.approx(-0.9)  # w0 = rho1 - 1
    # forward needs only the FN rate: fp_rate may stay unknown (0)
    shaper = NoisyVerifier(NoisyVerifierConfig(mode="forward", fn_rate=0.1), ShapingContext({"correct": 1.0, "format": 0.2}))
    out = shaper.shape([ep(components={"correct": 1.0, "format": 1.0}), ep(correct=False, components={"correct": 0.0, "format": 1.0})], [1.2, 0.2], step=1)
    assert out.rewards == pytest.approx([0.2 + 0.1, 0.2 - 0.9])  # every reward moves by -(1 - rho1) = -0.9
    assert out.metrics["corrected_correct"] == pytest.approx(-0.4)
    with pytest.raises(ValueError, match="mode"):
        NoisyVerifier(NoisyVerifierConfig(mode="sideways"), ShapingContext())


@pytest.mark.timeout(20)
def test_noisy_verifier_forward_update_follows_the_clean_gradient_and_backward_is_unbiased():
    """A 3-armed softmax bandit with a noisy verifier (FP 0.2, FN 0.1), 200k one-sample updates, fixed seed.

    Clean gradient g = sum_a pi_a p_a grad log pi_a. Per sample, score s = grad log pi(a) = e_a - pi (at most
    ~1.2 per coordinate in norm, rewards in [-0.9, 1.3]): the Monte Carlo standard error of each coordinate of the
    mean is below 1.3 / sqrt(200k) ~ 0.003, so a tolerance of 0.01 (> 3 standard errors) is safe.
    Expected: backward E[R^ s] = g (unbiased); raw E[R~ s] = (1 - rho0 - rho1) g = 0.7 g (biased by the channel);
    forward E[w s] = 0.7 g too (the paper's claim: aligned with g, from rho1 alone)."""
    from verigym.trainer.shaping.noisy_verifier import forward_weight

    import torch

    gen = torch.Generator().manual_seed(0)
    fp, fn, n = 0.2, 0.1, 200_000
    pi, p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64)
    clean = [float(sum(pi[a] * p[a] * (float(a == k) - pi[k]) for a in range(3))) for k in range(3)]
    arms = torch.multinomial(pi, n, replacement=True, generator=gen)
    true = torch.rand(n, generator=gen, dtype=torch.float64) < p[arms]
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    obs = torch.where(true, u >= fn, u < fp).double()
    score = torch.nn.functional.one_hot(arms, 3).double() - pi  # grad log pi(a) w.r.t. the logits
    weights = {"raw": obs, "backward": backward_corrected(obs, fp, fn), "forward": forward_weight(obs, fn)}
    sums = {key: (w[:, None] * score).mean(0).tolist() for key, w in weights.items()}
    kappa = 1 - fp - fn
    assert sums["backward"] == pytest.approx(clean, abs=0.01)
    assert sums["raw"] == pytest.approx([kappa * g for g in clean], abs=0.01)
    assert max(abs(r - g) for r, g in zip(sums["raw"], clean)) > 0.03  # raw is off by 0.3 g (|g_0| = 0.16)
    assert sums["forward"] == pytest.approx([kappa * g for g in clean], abs=0.01)
    cos = sum(f * g for f, g in zip(sums["forward"], clean)) / math.hypot(*sums["forward"]) / math.hypot(*clean)
    assert cos > 0.99


def canon_inputs(rewards, metric, groups):
    import torch

    from verigym.trainer.advantages import AdvantageInputs

    n = len(rewards)
    return AdvantageInputs(torch.tensor(rewards)[:, None], torch.ones(n, 1), torch.tensor(groups), lengths=torch.tensor(metric), entropies=torch.tensor(metric))


@pytest.mark.timeout(10)
def test_canon_advantages_by_hand():
    from verigym.trainer.advantages import AdvantageConfig, compute_advantages
    from verigym.trainer.shaping.canon import canon_metrics

    # group 0: lengths 4, 1, 3, 2 -> low half {1, 3} (lengths 1, 2), high half {0, 2}; rewards high 1, 1, low 0, 1
    # low mean 0.5, high mean 1. Episode 0 (high, r 1): intra 0, inter 1 - 0.5 = 0.5 -> 0.25 * 0 + 0.75 * 0.5
    # episode 1 (low, r 0): intra -0.5, inter -1 -> 0.25 * -0.5 + 0.75 * -1 = -0.875; episode 3 (low, r 1): 0.125 + 0
    # group 1: two episodes, halves of one: intra 0, A = 0.75 * (r_i - r_j); group 2: one episode -> 0
    inputs = canon_inputs([1.0, 0.0, 1.0, 1.0, 2.0, 0.0, 5.0], [4.0, 1.0, 3.0, 2.0, 7.0, 9.0, 1.0], [0, 0, 0, 0, 1, 1, 2])
    adv = compute_advantages(inputs, AdvantageConfig("canon", canon_mu=0.75))[:, 0]
    assert adv.tolist() == pytest.approx([0.375, -0.875, 0.375, 0.125, 1.5, -1.5, 0.0])
    # direction-free: the same rewards with the lengths mirrored give the mirrored split, and the same advantages
    mirrored = canon_inputs([1.0, 0.0, 1.0, 1.0], [-4.0, -1.0, -3.0, -2.0], [0, 0, 0, 0])
    flipped = compute_advantages(mirrored, AdvantageConfig("canon", canon_mu=0.75))[:, 0]
    assert flipped.tolist() == pytest.approx([0.375, -0.875, 0.375, 0.125])  # here the low half earns more
    # mu = 0.5 with equal halves is Dr. GRPO: r - group mean (0.75)
    drgrpo = compute_advantages(inputs, AdvantageConfig("canon", canon_mu=0.5))[:4, 0]
    assert drgrpo.tolist() == pytest.approx([0.25, -0.75, 0.25, 0.25])
    m = canon_metrics(inputs, AdvantageConfig("canon"))
    assert m["shaping/canon/reward_gap"] == pytest.approx((0.5 + (0.0 - 2.0)) / 2)  # group 0: +0.5, group 1: 9 pays less
    assert m["shaping/canon/high_better"] == 0.5 and m["shaping/canon/low_better"] == 0.5
    assert m["shaping/canon/metric"] == pytest.approx(27 / 7)


@pytest.mark.timeout(10)
def test_canon_metric_inputs_come_from_the_records_and_config_is_checked():
    from verigym.trainer.batch import advantage_inputs

    a = record(1, "7", loss_mask=(0, 1, 1, 1))
    a.logprobs = [0.0, -1.0, -2.0, -3.0]
    b = record(1, "7", loss_mask=(0, 1, 0, 0))
    b.logprobs = [-9.0, -0.5, -9.0, -9.0]  # off-mask logprobs do not count
    inputs = advantage_inputs([a, b], [], {})
    assert inputs.lengths.tolist() == [3.0, 1.0]
    assert inputs.entropies.tolist() == pytest.approx([2.0, 0.5])
    with pytest.raises(ValueError, match="canon_metric"):
        from_dict(TrainerConfig, {"algorithm": {"advantage": "canon", "canon_metric": "vibes"}}).validate()
    with pytest.raises(ValueError, match="canon_mu"):
        from_dict(TrainerConfig, {"algorithm": {"advantage": "canon", "canon_mu": 1.5}}).validate()


def checked(turns):
    """An EpisodeView with a checklist: {turn: [(name, passed, weight)]}."""
    view = ep(components={"correct": 0.0})
    return EpisodeView(view.problem, 0, False, 10, 0, "", {"correct": 0.0}, 0.0, None, {t: tuple(c) for t, c in turns.items()}, 3)


@pytest.mark.timeout(10)
def test_checklist_rewards_by_hand():
    from verigym.trainer.shaping.checklist import Checklist, ChecklistConfig, turn_score

    assert turn_score((("a", True, 1.0), ("b", False, 1.0), ("c", True, 2.0))) == pytest.approx(0.75)
    assert turn_score((("a", True, 1.0), ("b", False, 1.0)), "all") == 0.0
    shaper = Checklist(ChecklistConfig(alpha=0.5), ShapingContext({"correct": 2.0}))
    # turn 0: 2 of 2 criteria; turn 2: 1 of 2 -> T = 2, scale = 0.5 * 2 / 2 = 0.5: r_0 = 0.5, r_2 = 0.25
    episodes = [checked({0: [("x", True, 1.0), ("y", True, 1.0)], 2: [("x", True, 1.0), ("z", False, 1.0)]}), ep()]
    out = shaper.shape(episodes, [0.0, 2.0], step=1)
    assert out.rewards == pytest.approx([0.75, 2.0])  # the episode without criteria is unchanged
    assert out.turn_deltas == [pytest.approx({0: 0.5, 2: 0.25}), {}]
    assert out.metrics["pass/x"] == 1.0 and out.metrics["pass/z"] == 0.0 and out.metrics["with_checklist"] == 0.5
    # balancing: every criterion met on a failed episode still earns less than the correctness weight
    perfect = checked({t: [("x", True, 1.0)] for t in range(5)})
    assert shaper.shape([perfect], [0.0], step=1).rewards[0] == pytest.approx(0.5 * 2.0)  # < w_correct = 2
    with pytest.raises(ValueError, match="alpha"):
        Checklist(ChecklistConfig(alpha=1.0), ShapingContext())


@pytest.mark.timeout(10)
def test_checklist_rewards_land_on_their_turns_through_the_pipeline():
    rec = record(3, "5", rewards=(0.0, 0.0, 1.0), success=True)
    rec.metadata["checklist"] = {"0": [{"name": "a", "passed": True, "evidence": "e"}], "2": [{"name": "a", "passed": False, "evidence": "e"}]}
    shaping = RewardShaping(ShapingConfig(methods=["checklist", "hapo"]), {"correct": 1.0})
    [out], metrics = shaping.apply([rec], step=1)
    assert [t.reward for t in out.turn_records] == pytest.approx([0.25, 0.0, 1.0])  # 0.5 * 1 / 2 on turn 0, 0 on turn 2
    assert out.components["shaping.checklist"] == pytest.approx(0.25)
    assert metrics["shaping/checklist/pass/a"] == 0.5 and metrics["shaping/checklist/turn_score"] == 0.5


@pytest.mark.timeout(20)
def test_beam_statics_declares_checklist_criteria_and_records_keep_them():
    from verigym.agents.collect import collect
    from verigym.agents.scripted import OraclePolicy
    from verigym.envs.beam_statics.env import BeamStaticsEnv

    env = BeamStaticsEnv()
    env.reset(seed=3)
    *_, info = env.step(env.oracle_action())  # a check of the gold reactions: balanced
    assert [(c["name"], c["passed"]) for c in info["checklist"]] == [("check_within_budget", True), ("check_well_formed", True)]
    *_, info = env.step(env.oracle_action())
    assert [(c["name"], c["passed"]) for c in info["checklist"]] == [("checked_before_answering", True), ("answer_matches_balanced_check", True)]
    assert "balanced check" in info["checklist"][1]["evidence"]
    env.reset(seed=3)
    *_, info = env.step('<tool_call>{"name": "check", "arguments": {"X": "1"}}</tool_call>')
    assert [(c["name"], c["passed"]) for c in info["checklist"]] == [("check_well_formed", False)]
    assert "not one of the unknowns" in info["checklist"][0]["evidence"]
    from verigym.envs.actions import format_answer
    from verigym.envs.beam_statics.verifier import show

    *_, info = env.step(format_answer(", ".join(f"{k} = {show(k, v)}" for k, v in env.gold.items())))  # right, but unchecked
    assert [c["passed"] for c in info["checklist"]] == [False, False]
    [rec] = collect(BeamStaticsEnv, OraclePolicy(), seeds=[3], concurrency=1)
    assert sorted(rec.metadata["checklist"]) == ["0", "1"]
    assert rec.metadata["checklist"]["1"][0]["name"] == "checked_before_answering"


@pytest.mark.timeout(120)
def test_training_with_canon_and_forward_correction_logs_their_metrics(tmp_path, tiny_model_dir, parity_env_id):
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    cfg = from_dict(TrainerConfig, {
        "run_dir": str(tmp_path / "run"), "seed": 1, "max_steps": 2, "model": {"path": str(tiny_model_dir)},
        "env": {"id": parity_env_id, "kwargs": {"min_len": 1, "max_len": 1}},
        "rollout": {"engine": "hf", "groups_per_step": 2, "group_size": 4, "max_tokens": 5},
        "algorithm": {"advantage": "canon", "canon_metric": "entropy", "canon_mu": 0.75},
        "shaping": {"methods": ["noisy_verifier"], "noisy_verifier": {"mode": "forward", "fn_rate": 0.1}},
        "optim": {"lr": 1e-2, "micro_batch_size": 8}, "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }).validate()
    Trainer(cfg).fit()
    rows = [r for r in read_metrics(cfg.run_dir) if "reward/mean" in r]
    assert len(rows) == 2
    for r in rows:
        assert r["shaping/canon/metric"] > 0  # mean surprisal of sampled tokens
        assert r["shaping/canon/high_better"] + r["shaping/canon/low_better"] <= 1.0
        assert r["shaping/noisy_verifier/fn_rate"] == 0.1
