"""The generator: determinism, per-category shapes, and category selection / held-out splits."""

from collections import Counter

import pytest

from verigym.envs.beam_statics.env import BeamStaticsEnv
from verigym.envs.beam_statics.generator import generate_in_category, generate_task, select_categories
from verigym.envs.beam_statics.ground_truth import solve_equilibrium
from verigym.envs.beam_statics.task import CATEGORIES


def test_same_seed_gives_identical_task_and_prompt():
    first, second = BeamStaticsEnv(), BeamStaticsEnv()
    for seed in (0, 1, 17, 2**31 - 2):
        obs1, _ = first.reset(seed=seed)
        obs2, _ = second.reset(seed=seed)
        assert obs1 == obs2
        assert first.task == second.task == generate_task(seed)


def test_different_seeds_give_varied_tasks():
    tasks = [generate_task(seed) for seed in range(200)]
    assert len({(t.length, t.supports, t.loads) for t in tasks}) > 150
    assert set(Counter(t.category for t in tasks)) == set(CATEGORIES)


def test_a_task_depends_only_on_its_category_and_seed():
    for seed in range(30):
        drawn = generate_task(seed, ("overhang/udl", "cantilever/moment"))
        assert drawn == generate_in_category(drawn.category, seed)
        assert drawn.task_id == f"{drawn.category}/{seed}"


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_shapes(category):
    layout, loading = category.split("/")
    for seed in range(40):
        task = generate_in_category(category, seed)
        n = int(task.length)
        assert 2 <= n <= 8 and task.length == n
        kinds = [load.kind for load in task.loads]
        assert 1 <= len(kinds) <= 4
        if loading == "mixed":
            assert len(set(kinds)) >= 2
        else:
            assert set(kinds) == {loading}
        xs = [s.x for s in task.supports]
        if layout == "simply_supported":
            assert xs == [0, n]
        elif layout == "overhang":
            assert len(xs) == 2 and xs[0] < xs[1] and (xs[0] > 0 or xs[1] < n)
        else:
            assert len(xs) == 1 and xs[0] in (0, n) and task.unknowns == ("R_A", "M_A")
        assert any(solve_equilibrium(task).values()), "an all-zero answer must never be right"


def test_lengths_setting_bounds_the_beam():
    tasks = [generate_task(seed, lengths=(5, 6)) for seed in range(50)]
    assert {int(t.length) for t in tasks} == {5, 6}
    assert all(t.task_id.endswith("/len5-6") for t in tasks)
    with pytest.raises(ValueError, match="2 <= min <= max"):
        generate_task(0, lengths=(1, 3))


def test_select_categories_by_full_name_layout_or_loading():
    assert select_categories() == CATEGORIES
    assert select_categories(["overhang/point"]) == ("overhang/point",)
    assert select_categories(["overhang"]) == tuple(c for c in CATEGORIES if c.startswith("overhang/"))
    assert select_categories(["udl"]) == tuple(c for c in CATEGORIES if c.endswith("/udl"))
    assert select_categories(exclude=["overhang"]) == tuple(c for c in CATEGORIES if not c.startswith("overhang/"))
    assert select_categories(["cantilever"], ["moment"]) == ("cantilever/point", "cantilever/udl", "cantilever/mixed")


def test_select_categories_refuses_unknown_or_empty_selections():
    with pytest.raises(ValueError, match="unknown beam category selector.*'arch'"):
        select_categories(["arch"])
    with pytest.raises(ValueError, match="leaves no category"):
        select_categories(["overhang"], ["overhang"])


def test_held_out_split_by_category():
    train = BeamStaticsEnv(exclude_categories=["overhang"])
    held_out = BeamStaticsEnv(categories=["overhang"])
    train_categories, test_categories = set(), set()
    for seed in range(300):
        train.reset(seed=seed)
        held_out.reset(seed=seed)
        train_categories.add(train.task.category)
        test_categories.add(held_out.task.category)
    assert train_categories == {c for c in CATEGORIES if not c.startswith("overhang/")}
    assert test_categories == {c for c in CATEGORIES if c.startswith("overhang/")}


def test_env_refuses_a_bad_category_setting():
    with pytest.raises(ValueError, match="unknown beam category selector"):
        BeamStaticsEnv(categories=["overhanging"])
    with pytest.raises(ValueError, match="list of category names"):
        BeamStaticsEnv(categories=[3])


def test_tasks_are_identical_in_a_fresh_interpreter():
    import os
    import subprocess
    import sys

    code = "from verigym.envs.beam_statics.generator import generate_task; print(generate_task(123).to_json())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    assert out.stdout.strip() == generate_task(123).to_json()


def test_max_loads_caps_the_load_count_and_marks_the_task_id():
    from verigym.envs.beam_statics.generator import generate_in_category

    for category in ("cantilever/point", "simply_supported/moment", "overhang/udl", "cantilever/mixed"):
        for seed in range(40):
            capped = generate_in_category(category, seed, max_loads=1)
            assert len(capped.loads) == (2 if category.endswith("mixed") else 1), (category, seed)
            assert capped.task_id == f"{category}/{seed}/max1"
            assert generate_in_category(category, seed).task_id == f"{category}/{seed}"  # default unchanged
    import pytest

    with pytest.raises(ValueError, match="max_loads"):
        generate_in_category("cantilever/point", 0, max_loads=0)
    import verigym.plugins.registry as registry

    env = registry.make("beam-statics-v0", categories=["cantilever/point"], max_loads=1)
    env.reset(seed=3)
    assert len(env.task.loads) == 1
