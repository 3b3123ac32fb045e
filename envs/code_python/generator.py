"""Seed -> `CodeTask`: pick a template for the difficulty, draw its parameters, visible examples and hidden tests.

Expected values come from running the template's reference in this (host) process on the generated inputs;
they are stored in the task and never sent to a sandbox.
"""

from __future__ import annotations

import copy
import functools
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from verigym.envs.code_python import values
from verigym.envs.code_python.task import CodeTask, TestCase
from verigym.envs.code_python.templates import BY_NAME, TEMPLATES, Problem, Template

DIFFICULTIES = ("easy", "medium", "hard")
LEVELS = {"easy": (1,), "medium": (1, 2), "hard": (2, 3)}  # template levels each difficulty draws from
SCALE = {"easy": 1, "medium": 2, "hard": 3}  # input sizes
N_HIDDEN = {"easy": 12, "medium": 20, "hard": 30}
N_VISIBLE = 3
MAX_ARGS_CHARS = 20_000  # one test's arguments on the wire


def pick(seed: int, difficulty: str | None = None, templates: Sequence[str] = ()) -> tuple[random.Random, str, Template]:
    """The RNG (after the draws made here), difficulty and template for `seed`."""
    unknown = [t for t in templates if t not in BY_NAME]
    if unknown:
        raise ValueError(f"code-python-v0: unknown templates {unknown}; known: {sorted(BY_NAME)}")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValueError(f"code-python-v0: difficulty must be one of {DIFFICULTIES} or None, got {difficulty!r}")
    rng = random.Random(f"code-python-v0/{seed}")
    level = difficulty or rng.choice(DIFFICULTIES)
    pool = [t for t in TEMPLATES if (not templates or t.name in templates) and t.level in LEVELS[level]]
    if not pool:  # the named templates are all outside this difficulty's levels: use them anyway
        pool = [BY_NAME[t] for t in templates]
    return rng, level, rng.choice(pool)


def generate_task(
    seed: int, difficulty: str | None = None, templates: Sequence[str] = (), n_hidden: int | None = None
) -> CodeTask:
    """The task for `seed` (deterministic); `n_hidden` overrides the difficulty's hidden-test count."""
    rng, level, template = pick(seed, difficulty, templates)
    problem = template.build(rng)
    return build_task(seed, level, template.name, problem, rng, n_hidden or N_HIDDEN[level])


def build_task(seed: int, level: str, template: str, problem: Problem, rng: random.Random, n_hidden: int) -> CodeTask:
    """Draw visible examples and hidden tests for `problem` and compute their expected values."""
    fn = load_function(problem.reference, problem.entry)
    scale = SCALE[level]
    seen: set[str] = set()

    def case(args: list[Any]) -> TestCase | None:
        wire = values.dumps(args)
        if wire in seen or len(wire) > MAX_ARGS_CHARS:
            return None
        seen.add(wire)
        return TestCase(wire, values.dumps(fn(*copy.deepcopy(args))))

    visible: list[TestCase] = []
    for _ in range(50):
        if len(visible) == N_VISIBLE:
            break
        made = case(problem.gen(rng, scale))
        if made is not None:
            visible.append(made)
    hidden = [c for c in (case(list(e)) for e in problem.edges) if c is not None][: n_hidden // 2]
    for _ in range(20 * n_hidden):
        if len(hidden) >= n_hidden:
            break
        made = case(problem.gen(rng, scale))
        if made is not None:
            hidden.append(made)
    return CodeTask(
        task_id=f"{template}-{level}-{seed}",
        seed=seed,
        template=template,
        difficulty=level,
        entry=problem.entry,
        signature=problem.signature,
        spec=problem.spec,
        reference=problem.reference,
        visible=tuple(visible),
        hidden=tuple(hidden),
        numeric_ok=problem.numeric_ok,
    )


@functools.lru_cache(maxsize=512)
def load_function(source: str, entry: str) -> Callable[..., Any]:
    """`entry` from a trusted module source (a reference solution), executed in this process."""
    namespace: dict[str, Any] = {"__name__": "reference"}
    exec(compile(source, "reference.py", "exec"), namespace)  # noqa: S102 - our own reference code
    return namespace[entry]


def expected_values(task: CodeTask) -> list[Any]:
    """The hidden tests' expected values, decoded."""
    return [values.loads(t.expected) for t in task.hidden]


def mutant_caught(task: CodeTask, mutant_source: str) -> bool:
    """True when some hidden test tells `mutant_source` apart from the reference (an exception counts)."""
    fn = load_function(mutant_source, task.entry)
    for test in task.hidden:
        try:
            got = fn(*values.loads(test.args))
        except Exception:  # noqa: BLE001 - a crashing mutant is caught
            return True
        if not values.same(values.loads(test.expected), got, numeric_ok=task.numeric_ok):
            return True
    return False


def problem_for(seed: int, difficulty: str | None = None, templates: Sequence[str] = ()) -> tuple[str, Problem]:
    """The template name and instantiated problem behind `generate_task(seed, ...)` (for mutants and stats)."""
    rng, _, template = pick(seed, difficulty, templates)
    return template.name, template.build(rng)


def task_key(task: CodeTask) -> str:
    """What makes two tasks the same problem: template, spec and reference (not the drawn tests)."""
    return json.dumps([task.template, task.spec, task.reference])
