"""The `triton-kernels-v0` task record and its seeded generator."""

from __future__ import annotations

import random
from dataclasses import dataclass

from verigym.envs.kernels.compose import compose
from verigym.envs.kernels.problem import Problem, curated_problems
from verigym.envs.task import Task


@dataclass(frozen=True)
class KernelTask(Task):
    """One problem to write Triton kernels for, with the seeds of its grading trials.

    `source` is the reference module in KernelBench format; `trial_seeds` seed the fresh inputs (and the
    model's parameters) of each grading trial.
    """

    name: str
    source: str
    dtype: str
    category: str
    origin: str
    trial_seeds: tuple[int, ...]


def task_from_problem(problem: Problem, seed: int, trials: int) -> KernelTask:
    """A task for `problem` whose trial seeds derive from `seed`."""
    rng = random.Random(f"trials:{seed}:{problem.name}")
    seeds = tuple(rng.randrange(1, 2**31 - 3) for _ in range(trials))
    return KernelTask(
        task_id=f"{problem.origin}/{problem.name}/{seed}",
        seed=seed,
        name=problem.name,
        source=problem.source,
        dtype=problem.dtype,
        category=problem.category,
        origin=problem.origin,
        trial_seeds=seeds,
    )


def generate_task(seed: int, *, trials: int = 3, scale: str = "cpu", composed_share: float = 0.25,
                  problems: list[Problem] | None = None) -> KernelTask:
    """A task drawn from `seed`: with probability `composed_share` a procedural composition, else one of
    `problems` (default: the curated set).

    On the CPU (`scale="cpu"`) bfloat16 problems are never drawn: the Triton interpreter has no bf16.
    """
    rng = random.Random(seed)
    if rng.random() < composed_share:
        return task_from_problem(compose(rng.randrange(2**31)), seed, trials)
    pool = problems if problems is not None else curated_problems(scale)
    if scale == "cpu":
        pool = [p for p in pool if p.dtype != "bfloat16"]
    return task_from_problem(rng.choice(pool), seed, trials)


def curated_task(name: str, seed: int = 0, trials: int = 3, scale: str = "cpu") -> KernelTask:
    """The task for curated problem `name` (KeyError naming the known problems when there is none)."""
    problems = {p.name: p for p in curated_problems(scale)}
    if name not in problems:
        raise KeyError(f"no curated problem {name!r}; known: {sorted(problems)}")
    return task_from_problem(problems[name], seed, trials)
