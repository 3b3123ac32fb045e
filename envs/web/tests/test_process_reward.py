"""The process-reward hook: off by default; the rule-based judge pays for progress toward the goal's state,
sums to at most its weight over an episode, and cannot be farmed by undoing and redoing a step."""

from __future__ import annotations

from typing import Any

import pytest

from verigym.envs.web.env import WebForumEnv, WebShopEnv
from verigym.envs.web.process_reward import ProgressJudge, StepContext, make_judge
from verigym.envs.web.scripted import play, play_oracle


def test_off_by_default(envs: Any) -> None:
    env = envs("shop", "text")
    env.reset(seed=0)
    assert env.step("noop()")[4]["turn_reward"] is None


@pytest.mark.parametrize("kind", ["purchase", "change-address", "write-review", "order-total"])
def test_progress_judge_rewards_the_oracle_path(kind: str, task_of: Any) -> None:
    env = WebShopEnv(step_judge="progress", step_judge_weight=0.5)
    try:
        env.reset(options={"task": task_of("shop", kind, 2)})
        played = play_oracle(env, skip_final=True)
        assert sum(played.rewards) == pytest.approx(0.5)
        assert all(r >= 0 for r in played.rewards)
        if kind == "purchase":  # half the progress once the right item is in the cart, the rest at checkout
            assert pytest.approx(0.25) in played.rewards
        final = play(env, [env.oracle_action()])
        assert final.rewards == [1.0]  # the final turn carries only the outcome
    finally:
        env.close()


def test_undo_and_redo_earns_nothing_extra(task_of: Any) -> None:
    env = WebForumEnv(step_judge="progress", step_judge_weight=1.0)
    try:
        env.reset(options={"task": task_of("forum", "notifications", 0)})
        played = play(env, ['goto("/settings")'])
        box, save = env._find("name:email_notifications"), env._find("button:Save settings")
        for _ in range(3):  # toggle on, save, toggle back, save
            play(env, [f'click("{box}")', f'click("{save}")'], played)
        assert sum(played.rewards) == pytest.approx(1.0)  # odd number of flips: the goal is met once
        play(env, [f'click("{box}")', f'click("{save}")'], played)
        assert sum(played.rewards) == pytest.approx(0.0)
    finally:
        env.close()


def test_custom_judges_plug_in_by_import_path() -> None:
    assert isinstance(make_judge("progress", 0.1), ProgressJudge)
    assert make_judge("", 0.1) is None
    judge = make_judge("verigym.envs.web.process_reward:ProgressJudge", 0.3)
    assert isinstance(judge, ProgressJudge) and judge.weight == 0.3
    with pytest.raises(ValueError, match="module:factory"):
        make_judge("nonsense", 0.1)
    assert StepContext.__dataclass_fields__.keys() >= {"task", "action", "observation", "state"}
