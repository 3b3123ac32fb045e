"""Throughput of `beam-statics-v0`, each figure next to a naive sympy baseline.

Rates are operations per CPU second of this process (`time.process_time`), on one core, so they hold on a
busy machine. `throughput()` returns rows for the `benchmarks/env_throughput.py` table.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from verigym.envs.beam_statics.env import BeamStaticsEnv
from verigym.envs.beam_statics.generator import generate_task
from verigym.envs.beam_statics.ground_truth import solve_equilibrium, solve_with_sympy
from verigym.envs.beam_statics.task import BeamTask, is_moment
from verigym.envs.beam_statics.verifier import show, verify

ENV_ID = "beam-statics-v0"
_EXPLICIT = re.compile(r"([0-9P])([PL])")
_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_BOXED = re.compile(r"\\boxed\{(.*)\}")
_STYLES = ("{}", "\\frac{{{}}}{{1}}", "\\boxed{{{}}}", "({})*1")


def throughput(seconds: float = 2.0) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, baseline, baseline_ops_per_s}; each measurement runs about `seconds`."""
    cases = _answer_cases(200)
    tasks = [task for task, _, _ in cases]
    rows = [
        _row("verify (parse answer + exact compare)", _rate(lambda c: verify(c[0], c[1], c[2]), cases, seconds),
             "bare sympy solve (parse_expr + solve + simplify)", _rate(_sympy_verify, cases, seconds)),
        _row("ground truth (equilibrium, Fractions)", _rate(solve_equilibrium, tasks, seconds),
             "sympy Beam.solve_for_reaction_loads", _rate(solve_with_sympy, tasks, seconds)),
    ]
    fast, checked = BeamStaticsEnv(), BeamStaticsEnv(cross_check=True)
    rows.append(
        _row("oracle episode (reset + check + answer)", _rate(lambda s: _episode(fast, s), range(10_000), seconds),
             "same with cross_check=True (sympy Beam at reset)", _rate(lambda s: _episode(checked, s), range(10_000), seconds))
    )
    return rows


def _row(case: str, rate: float, baseline: str | None, baseline_rate: float | None) -> dict[str, Any]:
    return {"env": ENV_ID, "case": case, "ops_per_s": rate, "baseline": baseline, "baseline_ops_per_s": baseline_rate}


def _rate(op: Callable[[Any], Any], items: Sequence[Any], seconds: float) -> float:
    done, start = 0, time.process_time()
    while True:
        op(items[done % len(items)])
        done += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return done / elapsed


def _answer_cases(n: int) -> list[tuple[BeamTask, str, dict[str, Fraction]]]:
    """Seeded answers in varied notations, a third of them wrong by one reaction."""
    rng = random.Random(0)
    cases = []
    for seed in range(n):
        task = generate_task(seed)
        gold = solve_equilibrium(task)
        given = dict(gold)
        if seed % 3 == 0:
            given[task.unknowns[0]] += Fraction(1, 4)
        style = _STYLES[seed % len(_STYLES)]
        text = ", ".join(f"{name} = {style.format(show(name, given[name]))}" for name in task.unknowns)
        cases.append((task, text if rng.random() < 0.5 else _EXPLICIT.sub(r"\1*\2", text), gold))
    return cases


def _sympy_verify(case: tuple[BeamTask, str, dict[str, Fraction]]) -> bool:
    """The naive verifier: solve equilibrium with sympy.solve, parse with parse_expr, compare by simplify."""
    import sympy
    from sympy.parsing.sympy_parser import implicit_multiplication_application, parse_expr, standard_transformations

    task, text, _ = case
    P, L = sympy.symbols("P L")
    unknowns = {name: sympy.Symbol(name) for name in task.unknowns}
    force = sum(unknowns[f"R_{s.name}"] for s in task.supports) + P * sum(sympy.Rational(str(l.resultant)) for l in task.loads)
    moment = sum(unknowns[f"R_{s.name}"] * sympy.Rational(str(s.x)) * L for s in task.supports)
    moment += sum(unknowns[n] for n in task.unknowns if is_moment(n))
    moment += P * L * sum(sympy.Rational(str(l.moment_about_origin)) for l in task.loads)
    gold = sympy.solve([force, moment], list(unknowns.values()), dict=True)[0]
    transformations = standard_transformations + (implicit_multiplication_application,)
    local = {"P": P, "L": L}
    ok = True
    for part in text.split(", "):
        name, value = part.split(" = ")
        value = _BOXED.sub(r"(\1)", _FRAC.sub(r"((\1)/(\2))", value))
        given = parse_expr(value, local_dict=local, transformations=transformations)
        ok &= sympy.simplify(given - gold[unknowns[name]]) == 0
    return bool(ok)


def _episode(env: BeamStaticsEnv, seed: int) -> float:
    env.reset(seed=seed)
    while True:
        _, reward, terminated, truncated, _ = env.step(env.oracle_action())
        if terminated or truncated:
            return reward


if __name__ == "__main__":
    for row in throughput():
        print(row)
