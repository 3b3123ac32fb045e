import pytest
from gymnasium.utils.env_checker import check_env

from toy_env import AddEnv, AddTask
from verigym.envs import format_answer


def test_check_env_passes(add_env):
    check_env(add_env, skip_render_check=True)


def test_reset_is_deterministic_per_seed_and_never_uses_global_rng(add_env):
    import random

    random.seed(1)
    first, info = add_env.reset(seed=42)
    random.seed(2)
    again, info2 = AddEnv().reset(seed=42)
    assert first == again and info == info2 and info["task_id"] == "add-42"


def test_correct_answer_terminates_with_weighted_reward(add_env):
    add_env.reset(seed=3)
    task = add_env.task
    obs, reward, terminated, truncated, info = add_env.step(format_answer(str(task.a + task.b)))
    assert (terminated, truncated) == (True, False)
    assert reward == pytest.approx(1.1)
    assert info["reward_components"] == {"correct": 1.0, "format": 1.0}
    assert info["verdict"].passed


def test_turn_budget_truncates_not_terminates():
    env = AddEnv(max_turns=2)
    env.reset(seed=0)
    _, r1, term1, trunc1, info1 = env.step("no tags here")
    assert (term1, trunc1, r1) == (False, False, 0.0)
    assert "no <answer>" in info1["malformed"]
    obs, r2, term2, trunc2, info2 = env.step("still nothing")
    assert (term2, trunc2, r2) == (False, True, 0.0)
    assert "Turn budget of 2" in obs[-1]["content"]
    assert info2["reward_components"] == {"correct": 0.0, "format": 0.0}
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(format_answer("1"))


def test_reset_with_an_explicit_task_and_from_a_dict(add_env):
    task = AddTask(task_id="mine", seed=0, a=2, b=2)
    obs, info = add_env.reset(options={"task": task})
    assert obs[0]["content"] == "What is 2+2?" and info["task_id"] == "mine"
    add_env.reset(options={"task": task.to_dict()})
    assert add_env.task == task
    with pytest.raises(TypeError, match="AddTask"):
        add_env.reset(options={"task": 5})


def test_unknown_settings_are_refused_with_the_known_ones():
    with pytest.raises(TypeError, match="max_turns"):
        AddEnv(max_turnz=3)


def test_render_ansi_shows_the_transcript():
    env = AddEnv(render_mode="ansi")
    env.reset(seed=1)
    env.step("hello")
    text = env.render()
    assert "[user]\nWhat is" in text and "[assistant]\nhello" in text


def test_a_truncation_verdict_is_scored_when_the_budget_runs_out():
    from verigym.envs import Verdict

    from verigym.envs import Rubric

    class Costly(AddEnv):
        def build_rubric(self):
            return Rubric.from_verdict({"correct": 1.0, "cost": -0.5})

        def truncation_verdict(self):
            return Verdict(False, 0.0, {"correct": 0.0, "cost": 0.4})

    env = Costly(max_turns=1)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("no answer here")
    assert truncated and not terminated
    assert info["reward_components"] == {"correct": 0.0, "cost": 0.4} and reward == pytest.approx(-0.2)
    assert obs[-1]["content"].endswith("Scored as it stands: -0.200.")


def test_a_non_final_turn_may_carry_a_reward():
    from verigym.envs import TurnResult

    class Shaped(AddEnv):
        def on_turn(self, action):
            result = super().on_turn(action)
            return result if result.terminated else TurnResult(result.messages, malformed=result.malformed, reward=0.05)

    env = Shaped(max_turns=3)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("no answer here")
    assert not terminated and reward == pytest.approx(0.05) and info["turn_reward"] == 0.05
    assert info["reward_components"] == {"correct": 0.0, "format": 0.0}


def test_a_verdict_whose_components_differ_from_the_rubric_is_an_error_naming_both():
    from verigym.envs import TurnResult, Verdict
    from verigym.envs.rubric import RubricMismatchError

    class Wrong(AddEnv):
        def on_turn(self, action):
            return TurnResult([], terminated=True, verdict=Verdict(True, 1.0, {"correct": 1.0, "speed": 1.0}))

    env = Wrong()
    env.reset(seed=0)
    with pytest.raises(RubricMismatchError, match=r"\['correct', 'speed'\].*\['correct', 'format'\].*unknown: \['speed'\]"):
        env.step("x")
