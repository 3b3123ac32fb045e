"""Curated problems, KernelBench-folder loading, overrides, procedural compositions, task generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from verigym.envs.kernels.compose import compose
from verigym.envs.kernels.oracle import NoOracleError, oracle_names, oracle_source
from verigym.envs.kernels.problem import ProblemError, apply_overrides, curated_problems, load_folder, load_problem
from verigym.envs.kernels.static_check import check_source
from verigym.envs.kernels.task import KernelTask, curated_task, generate_task

SAMPLE = Path(__file__).with_name("kernelbench_sample")


def test_at_least_thirty_curated_problems_in_every_category():
    problems = curated_problems()
    assert len(problems) >= 30
    categories = {p.category for p in problems}
    assert {"elementwise", "reduction", "matmul", "cumulative", "fused"} <= categories
    assert {p.dtype for p in problems} == {"float32", "float16", "bfloat16"}


def test_gpu_scale_rewrites_the_shape_constants():
    cpu = {p.name: p for p in curated_problems("cpu")}["relu"].source
    gpu = {p.name: p for p in curated_problems("gpu")}["relu"].source
    assert "dim = 256" in cpu and "dim = 4096" in gpu
    assert apply_overrides("n = 3\nm = 4\n", {"m": 9}) == "n = 3\nm = 9\n"
    with pytest.raises(ProblemError, match="no top-level integer"):
        apply_overrides("n = 3\n", {"k": 1})


def test_loader_reads_a_kernelbench_folder():
    problems = load_folder(SAMPLE)
    assert [p.name for p in problems] == ["19_ReLU", "23_Softmax", "99_HalfGELU"]
    assert [p.dtype for p in problems] == ["float32", "float32", "float16"]
    assert all(p.origin == "kernelbench" for p in problems)


def test_loader_refuses_files_not_in_the_format(tmp_path):
    (tmp_path / "1_bad.py").write_text("import torch\n\nclass Model:\n    pass\n")
    with pytest.raises(ProblemError, match="missing top-level get_inputs, get_init_inputs"):
        load_problem(tmp_path / "1_bad.py")
    (tmp_path / "1_bad.py").write_text("def (:\n")
    with pytest.raises(ProblemError, match="not valid Python"):
        load_folder(tmp_path)
    with pytest.raises(ProblemError, match="not a folder"):
        load_folder(tmp_path / "missing")


def test_compositions_are_seeded_and_well_formed():
    assert compose(7) == compose(7)
    names = {compose(seed).name for seed in range(40)}
    assert len(names) > 10
    for seed in range(20):
        load_ok = compose(seed)
        assert "class Model(nn.Module)" in load_ok.source and load_ok.origin == "composed"


def test_tasks_are_seeded_round_trip_and_never_bf16_on_the_cpu():
    assert generate_task(3) == generate_task(3)
    tasks = [generate_task(seed, trials=2) for seed in range(200)]
    assert not any(t.dtype == "bfloat16" for t in tasks)
    assert any(t.origin == "composed" for t in tasks) and any(t.origin == "curated" for t in tasks)
    assert all(len(set(t.trial_seeds)) == 2 for t in tasks)
    assert KernelTask.from_json(tasks[0].to_json()) == tasks[0]
    with pytest.raises(KeyError, match="known"):
        curated_task("nope")


def test_oracle_covers_at_least_ten_problems_and_passes_the_static_check():
    names = oracle_names()
    assert len(names) >= 10
    curated = {p.name for p in curated_problems()}
    for name in names:
        assert name in curated
        assert check_source(oracle_source(name)).ok, name
    with pytest.raises(NoOracleError):
        oracle_source("softmax_bf16")


def test_every_composition_has_a_derived_oracle_and_solvable_only_draws_solvable_tasks():
    from verigym.envs.kernels.env import KernelsEnv

    for seed in range(30):
        assert check_source(oracle_source(compose(seed).name)).ok
    env = KernelsEnv(device="cpu", solvable_only=True)
    solvable = set(oracle_names())
    for seed in range(60):
        task = env.generate_task(seed)
        assert task.origin == "composed" or task.name in solvable
        assert oracle_source(task.name)
