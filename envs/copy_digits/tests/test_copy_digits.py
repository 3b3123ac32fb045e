"""copy-digits-v0: the gold answer scores full marks, hacks and junk score nothing, partial credit is graded."""

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.envs.copy_digits.env import CopyDigitsEnv, judge
from verigym.plugins.registry import make


def test_registered_and_passes_check_env():
    env = make("copy-digits-v0")
    assert isinstance(env, CopyDigitsEnv)
    check_env(env, skip_render_check=True)


def test_tasks_are_deterministic_per_seed_and_respect_lengths():
    env = CopyDigitsEnv(min_len=2, max_len=4)
    a, b = env.generate_task(5), env.generate_task(5)
    assert a == b and 2 <= len(a.digits) <= 4 and a.digits.isdigit()
    assert len({env.generate_task(s).digits for s in range(50)}) > 30
    with pytest.raises(ValueError, match="min_len"):
        CopyDigitsEnv(min_len=3, max_len=2).generate_task(0)


def test_repeat_shows_the_string_several_times():
    env = CopyDigitsEnv(repeat=3, min_len=2, max_len=2)
    obs, _ = env.reset(seed=4)
    d = env.task.digits
    assert obs[0]["content"] == f"Copy: {d} {d} {d}"


def test_weights_are_configurable_and_checked():
    assert CopyDigitsEnv(weights={"format": 0.0, "numeric": 0.0, "digits": 1.0, "correct": 2.0}).rubric.weights["correct"] == 2.0
    with pytest.raises(ValueError, match="weights must name exactly"):
        CopyDigitsEnv(weights={"correct": 1.0})


def test_oracle_scores_full_marks_in_one_turn():
    env = CopyDigitsEnv()
    obs, _ = env.reset(seed=3)
    assert obs[0]["content"] == f"Copy: {env.task.digits}"
    _, reward, terminated, truncated, info = env.step(env.oracle_action())
    assert terminated and not truncated and info["verdict"].passed
    assert reward == pytest.approx(2.5)
    assert info["reward_components"] == {"format": 1.0, "numeric": 1.0, "digits": 1.0, "correct": 1.0}


def test_partial_credit():
    assert judge("371", "<answer>372</answer>").components == {"format": 1.0, "numeric": 1.0, "digits": pytest.approx(2 / 3), "correct": 0.0}
    assert judge("371", "<answer>37").components == {"format": 0.25, "numeric": pytest.approx(2 / 3), "digits": pytest.approx(2 / 3), "correct": 0.0}
    assert judge("371", "<answer>3a</answer>").components["numeric"] == pytest.approx(1 / 3)
    assert judge("371", "371").components["digits"] == 0.0  # no credit outside the answer format
    assert judge("371", "x<answer>371").components == {"format": 0.25, "numeric": 0.0, "digits": 0.0, "correct": 0.0}
    assert judge("371", "<answer></answer>").components["format"] == 0.25  # an empty answer: no more than a started one
    assert judge("371", "<answer><answer>").components["format"] == 0.25
    assert judge("371", "").components == {"format": 0.0, "numeric": 0.0, "digits": 0.0, "correct": 0.0}


def test_known_hacks_score_zero_correct():
    # padding the answer with extra digits, several answers, or copying the whole prompt do not pass
    assert judge("371", "<answer>3710000</answer>").components["digits"] == pytest.approx(3 / 7)
    assert not judge("371", "<answer>3710000</answer>").passed
    assert not judge("371", "<answer>371</answer><answer>371</answer>").passed
    assert not judge("371", "<answer>Copy: 371</answer>").passed


def test_retries_when_multi_turn():
    env = CopyDigitsEnv(max_turns=2)
    env.reset(seed=1)
    obs, reward, terminated, truncated, _ = env.step("<answer>x</answer>")
    assert not terminated and not truncated and reward == 0 and obs[0]["content"] == "wrong, try again"
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert terminated and info["verdict"].passed and reward == pytest.approx(2.5)
    env.reset(seed=1)
    env.step("nothing")
    _, reward, terminated, truncated, info = env.step("still nothing")
    assert terminated and not truncated and reward == 0.0 and not info["verdict"].passed


def test_bare_replies_count_as_answers_only_without_tags():
    assert judge("7", "7", tags=False).passed
    assert judge("7", " 7\n", tags=False).components == {"format": 1.0, "numeric": 1.0, "digits": 1.0, "correct": 1.0}
    assert not judge("7", "3", tags=False).passed
    assert not judge("7", "7x", tags=False).passed
    assert judge("7", "<answer>7</answer>", tags=False).passed  # the tagged form still works
    assert judge("7", "", tags=False).components["format"] == 0.0
    assert not judge("7", "7").passed  # with tags (the default) a bare reply is no answer
    env = CopyDigitsEnv(min_len=1, max_len=1, answer_tags=False)
    env.reset(seed=3)
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert terminated and info["reward_components"]["correct"] == 1.0
