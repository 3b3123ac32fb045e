"""Content-hash task splits (`envs/task_split.py`): train and eval never share a task, whatever the seeds."""

from __future__ import annotations

import pytest

from tests.toy_env import AddEnv
from verigym.envs.task_split import task_part


def opening(env, seed):
    return env.reset(seed=seed)[0][-1]["content"]


@pytest.mark.timeout(60)
def test_train_and_eval_parts_are_disjoint_and_sized_by_eval_fraction():
    train, held = AddEnv(split="train", eval_fraction=0.25), AddEnv(split="eval", eval_fraction=0.25)
    trained = {opening(train, s) for s in range(3000)}
    evaluated = {opening(held, s) for s in range(10_000, 13_000)}
    assert not trained & evaluated
    # about a quarter of the tasks the seeds draw land in eval
    plain = AddEnv()
    share = sum(task_part(plain.generate_task(s), 0.25) == "eval" for s in range(4000)) / 4000
    assert 0.22 < share < 0.28, share


def test_a_split_is_deterministic_and_all_keeps_the_seed_to_task_mapping():
    env = AddEnv(split="eval")
    assert opening(env, 5) == opening(AddEnv(split="eval"), 5)
    plain = AddEnv()
    for seed in range(20):
        task = plain.generate_task(seed)
        assert opening(plain, seed) == f"What is {task.a}+{task.b}?"
    # a seed whose own task is in train is redrawn for eval, and kept for train
    seed = next(s for s in range(100) if opening(AddEnv(split="train"), s) == opening(plain, s))
    assert opening(AddEnv(split="eval"), seed) != opening(plain, seed)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"split": "test"}, "split must be one of"),
    ({"split": "eval", "eval_fraction": 0.0}, "eval_fraction must be a number strictly between 0 and 1"),
    ({"eval_fraction": 1.5}, "eval_fraction must be"),
])
def test_bad_split_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AddEnv(**kwargs)


def test_an_empty_split_says_what_to_change():
    class OneTask(AddEnv):
        def generate_task(self, seed):
            return super().generate_task(0)

    part = "eval" if "What" in opening(OneTask(split="train", eval_fraction=0.5), 1) else "train"
    with pytest.raises(ValueError, match="no task of the .* split in 1000 draws"):
        OneTask(split=part, eval_fraction=0.5).reset(seed=1)
