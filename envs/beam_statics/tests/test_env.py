"""The Gymnasium env: API conformance, the check tool, malformed turns and the turn budget."""

from fractions import Fraction as F

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.beam_statics.env import BeamStaticsConfig, BeamStaticsEnv
from verigym.envs.beam_statics.task import BeamTask, Load, Support
from verigym.plugins.registry import make

# 2P down at x = L on a simply supported 4L beam: R_A = 3P/2, R_B = P/2.
HAND = BeamTask(
    "hand", 0, "simply_supported/point", F(4),
    (Support("A", F(0), "pin"), Support("B", F(4), "roller")), (Load("point", F(-2), F(1)),),
)


def _env(**settings):
    env = BeamStaticsEnv(**settings)
    env.reset(options={"task": HAND})
    return env


def test_passes_gymnasium_check_env():
    check_env(BeamStaticsEnv(), skip_render_check=True)


def test_registered_under_its_id_with_settings():
    env = make("beam-statics-v0", max_checks=1, categories=["cantilever"])
    assert isinstance(env, BeamStaticsEnv) and env.config.max_checks == 1
    assert env.allowed_categories == ("cantilever/point", "cantilever/udl", "cantilever/moment", "cantilever/mixed")
    with pytest.raises(TypeError, match="known settings"):
        make("beam-statics-v0", max_check=1)
    with pytest.raises(ValueError, match="max_checks must be 0 or more"):
        BeamStaticsEnv(max_checks=-1)
    assert isinstance(BeamStaticsEnv(BeamStaticsConfig(max_turns=3)).config, BeamStaticsConfig)


def test_prompt_names_unknowns_sign_convention_format_and_tool():
    obs, info = BeamStaticsEnv().reset(options={"task": HAND})
    system, user = obs[0]["content"], obs[1]["content"]
    assert "positive upward" in system and "positive counter-clockwise" in system
    assert '<tool_call>{"name": "check"' in system and "at most 2 time(s)" in system and "<answer>" in system
    assert "- R_A: the vertical reaction force at support A (x = 0)" in user
    assert "- R_B: the vertical reaction force at support B (x = 4L)" in user
    assert "a downward point force of 2P at x = L" in user
    assert info == {"task_id": "hand", "seed": 0}
    cantilever = BeamTask("c", 1, "cantilever/moment", F(3), (Support("A", F(3), "fixed"),), (Load("moment", F(-2), F(1)),))
    obs, _ = BeamStaticsEnv().reset(options={"task": cantilever.to_dict()})
    assert "- M_A: the reaction moment at support A (x = 3L), in terms of P*L" in obs[1]["content"]
    assert "a clockwise applied moment (couple) of 2PL at x = L" in obs[1]["content"]
    assert "free at x = 0" in obs[1]["content"]


def test_check_reports_exact_imbalance_then_answer_ends_the_episode():
    env = _env()
    obs, reward, terminated, truncated, info = env.step(format_tool_call("check", {"R_A": "P", "R_B": "P"}))
    text = obs[0]["content"]
    assert obs[0]["role"] == "tool" and not terminated and not truncated and reward == 0.0
    assert "net vertical force = 0 (upward positive)" in text  # P + P - 2P
    assert "net moment about x = 0 = 2PL" in text  # 4L * P - L * 2P
    assert "not in equilibrium. 1 check(s) left." in text
    obs, *_ = env.step(format_tool_call("check", {"R_A": "3P/2", "R_B": "\\frac{P}{2}"}))
    assert "balanced" in obs[0]["content"] and "0 check(s) left" in obs[0]["content"]
    obs, reward, terminated, truncated, info = env.step(format_answer("R_A = 1.5P, R_B = P/2"))
    assert terminated and not truncated and info["verdict"].passed and reward == pytest.approx(1.25)
    assert info["reward_components"] == {"correct": 1.0, "per_reaction": 1.0, "format": 1.0}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("<tool_call>{check R_A}</tool_call>", "not valid JSON"),
        ('<tool_call>{"name": "solve", "arguments": {}}</tool_call>', "unknown tool 'solve'; available tools: ['check']"),
        (format_tool_call("check", {"R_A": "P", "R_B": "P"}) + format_answer("R_A = P, R_B = P"), "both a <tool_call> and an <answer>"),
        ("R_A = 3P/2, R_B = P/2", "no <answer>...</answer>"),
        (format_answer("R_A = 3P/2"), "R_B is missing"),
        ("", "no <answer>"),
        ("x" * 30_000, "the limit is 20000"),
    ],
)
def test_malformed_turns_get_a_precise_observation(action, message):
    env = _env()
    obs, reward, terminated, truncated, info = env.step(action)
    assert message in obs[0]["content"] and message in info["malformed"]
    assert reward == 0.0 and not terminated and not truncated and env.turn == 1
    assert info["reward_components"] == {"correct": 0.0, "per_reaction": 0.0, "format": 0.0}


def test_bad_check_arguments_do_not_spend_the_check_budget():
    env = _env(max_checks=1)
    obs, *_ = env.step(format_tool_call("check", {"R_A": "P"}))
    assert "check not run" in obs[0]["content"] and "R_B is missing" in obs[0]["content"]
    assert env.checks_used == 0
    obs, *_ = env.step(format_tool_call("check", {"R_A": "P", "R_B": "P"}))
    assert "0 check(s) left" in obs[0]["content"] and env.checks_used == 1
    obs, _, _, _, info = env.step(format_tool_call("check", {"R_A": "P", "R_B": "P"}))
    assert "check refused: all 1 check(s) for this task are used up" in obs[0]["content"] and info["malformed"]


def test_turn_budget_truncates():
    env = _env(max_turns=3)
    for turn in (1, 2, 3):
        obs, reward, terminated, truncated, info = env.step("thinking out loud")
        assert reward == 0.0 and not terminated and truncated == (turn == 3)
    assert obs[-1]["content"] == "Turn budget of 3 used up; episode over."
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(format_answer("R_A = 3P/2, R_B = P/2"))


def test_an_answer_on_the_last_turn_still_counts():
    env = _env(max_turns=2)
    env.step("hmm")
    _, reward, terminated, truncated, _ = env.step(format_answer("R_A = 3P/2, R_B = P/2"))
    assert terminated and not truncated and reward == pytest.approx(1.25)


def test_oracle_goes_through_the_tool_then_answers():
    env = _env()
    first = env.oracle_action()
    assert first == format_tool_call("check", {"R_A": "3P/2", "R_B": "P/2"})
    obs, *_ = env.step(first)
    assert "balanced" in obs[0]["content"]
    assert env.oracle_action() == format_answer("R_A = 3P/2, R_B = P/2")


# 3P down at x = L on a cantilever fixed at x = 4L: R_A = 3P, M_A = -9PL (the load's moment about A is 9PL).
CANTILEVER = BeamTask(
    "cantilever", 0, "cantilever/point", F(4), (Support("A", F(4), "fixed"),), (Load("point", F(-3), F(1)),),
)


def test_check_forces_oracle_checks_the_forces_then_answers_minus_the_reported_moment():
    env = BeamStaticsEnv(oracle="check-forces", max_checks=1, max_turns=2)
    env.reset(options={"task": CANTILEVER})
    first = env.oracle_action()
    assert first == format_tool_call("check", {"R_A": "3P", "M_A": "0"})
    obs, *_ = env.step(first)
    assert "net vertical force = 0 " in obs[0]["content"] and "net moment about x = 0 = 9PL " in obs[0]["content"]
    assert env.oracle_action() == format_answer("R_A = 3P, M_A = -9PL")
    _, reward, terminated, _, _ = env.step(env.oracle_action())
    assert terminated and reward == pytest.approx(1.25)


def test_check_zeros_oracle_checks_all_zero_reactions_then_answers():
    env = BeamStaticsEnv(oracle="check-zeros", max_checks=1, max_turns=2)
    env.reset(options={"task": CANTILEVER})
    obs, *_ = env.step(env.oracle_action())
    assert "net vertical force = -3P " in obs[0]["content"] and "net moment about x = 0 = -3PL " in obs[0]["content"]
    _, reward, terminated, _, _ = env.step(env.oracle_action())
    assert terminated and reward == pytest.approx(1.25)


@pytest.mark.parametrize("prompt", ["full", "terse"])
def test_check_about_support_a_makes_every_cantilever_answer_minus_the_checked_zeros(prompt):
    """check_about = "A": moments about the fixed end, so for all-zero reactions the reply is minus the gold
    reactions wherever the support is (about x = 0 a support at x = nL also needs n R_A); correct reactions
    still balance, and the prompt names the point."""
    from verigym.envs.beam_statics.answer import FORCE, MOMENT
    from verigym.envs.beam_statics.expression import format_monomial

    kw = {"categories": ["cantilever/point", "cantilever/moment"], "max_loads": 1, "lengths": [2, 9], "max_checks": 1, "max_turns": 2, "prompt": prompt}
    env, plain = make("beam-statics-v0", oracle="check-zeros", check_about="A", **kw), make("beam-statics-v0", oracle="check-zeros", **kw)
    far = 0
    for seed in range(60):
        opening, _ = env.reset(seed=seed)
        assert "about support A" in opening[0]["content"] and "about x = 0" not in opening[0]["content"]
        plain.reset(seed=seed)
        reply = env.step(env.oracle_action())[0][0]["content"]
        minus_gold = [format_monomial(-env.gold["R_A"], FORCE), format_monomial(-env.gold["M_A"], MOMENT)]
        assert [f"= {v} " in reply or f"= {v}\n" in reply for v in minus_gold] == [True, True], (seed, reply, minus_gold)
        plain_reply = plain.step(plain.oracle_action())[0][0]["content"]
        far += env.task.supports[0].x != 0 and plain_reply != reply
        assert env.step(env.oracle_action())[1] == pytest.approx(1.25)
    assert far >= 5  # supports at x = nL, where the two points differ
    with pytest.raises(ValueError, match="check_about must be one of"):
        BeamStaticsEnv(check_about="B")


def test_terse_prompt_shows_the_same_task_in_fewer_words_and_scores_the_same():
    full, terse = BeamStaticsEnv(oracle="check-zeros", max_checks=1, max_turns=2), BeamStaticsEnv(oracle="check-zeros", max_checks=1, max_turns=2, prompt="terse")
    (full_obs, _), (terse_obs, _) = full.reset(options={"task": CANTILEVER}), terse.reset(options={"task": CANTILEVER})
    assert sum(len(m["content"]) for m in terse_obs) < sum(len(m["content"]) for m in full_obs) / 2
    assert "Unknowns: R_A, M_A." in terse_obs[1]["content"] and "<answer>" in terse_obs[0]["content"]
    obs, *_ = terse.step(terse.oracle_action())
    assert obs[0]["content"].startswith("net force = -3P\nnet moment = -3PL\nnot balanced")
    _, reward, terminated, _, _ = terse.step(terse.oracle_action())
    assert terminated and reward == pytest.approx(1.25)
    with pytest.raises(ValueError, match="prompt must be one of"):
        BeamStaticsEnv(prompt="chatty")


def test_answer_oracle_answers_at_once_and_an_unknown_oracle_is_refused():
    env = _env(oracle="answer")
    assert env.oracle_action() == format_answer("R_A = 3P/2, R_B = P/2")
    with pytest.raises(ValueError, match="oracle must be one of"):
        BeamStaticsEnv(oracle="psychic")


@pytest.mark.parametrize("settings", [{"max_checks": 0}, {"max_turns": 1}])
def test_oracle_answers_directly_when_no_check_fits(settings):
    env = _env(**settings)
    _, reward, terminated, _, _ = env.step(env.oracle_action())
    assert terminated and reward == pytest.approx(1.25)


def test_no_check_budget_is_explained():
    env = _env(max_checks=0)
    assert "There are no tools" in env.transcript[0]["content"]
    obs, *_ = env.step(format_tool_call("check", {"R_A": "P", "R_B": "P"}))
    assert "check refused: all 0 check(s)" in obs[0]["content"]


def test_sample_action_is_well_formed_and_reproducible():
    import random

    env = _env()
    actions = [env.sample_action(random.Random(i)) for i in range(40)]
    assert actions == [env.sample_action(random.Random(i)) for i in range(40)]
    for action in actions:
        probe = _env()
        _, _, _, _, info = probe.step(action)
        assert info["malformed"] is None, action
    assert any("<tool_call>" in a for a in actions) and any("<answer>" in a for a in actions)


def test_cross_check_setting_runs_both_solvers():
    env = BeamStaticsEnv(cross_check=True)
    for seed in range(3):
        env.reset(seed=seed)
        assert env.gold


def test_render_ansi_shows_the_transcript():
    env = BeamStaticsEnv(render_mode="ansi")
    env.reset(options={"task": HAND})
    env.step(format_answer("R_A = P, R_B = P"))
    text = env.render()
    assert "[system]" in text and "[assistant]\n<answer>R_A = P, R_B = P</answer>" in text and "0 of 2 reactions correct" in text
