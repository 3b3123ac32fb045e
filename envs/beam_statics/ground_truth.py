"""Gold reactions, computed two independent ways that must agree.

`solve_equilibrium` writes the two equilibrium equations (vertical forces, moments about x = 0) in exact
fractions; it is what runs at episode time. `solve_with_sympy` builds the same beam with
`sympy.physics.continuum_mechanics.beam.Beam` (singularity functions and boundary conditions); it is slow
and serves as the cross-check. All values are in P (forces) and P*L (moments), upward and
counter-clockwise positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from verigym.envs.beam_statics.task import BeamTask, is_moment
from verigym.envs.verdict import VerifierError


def load_resultants(task: BeamTask) -> tuple[Fraction, Fraction]:
    """(net applied vertical force in P, net applied moment about x = 0 in P*L)."""
    return sum((l.resultant for l in task.loads), Fraction(0)), sum((l.moment_about_origin for l in task.loads), Fraction(0))


def solve_equilibrium(task: BeamTask) -> dict[str, Fraction]:
    """Every reaction of `task` from sum(F) = 0 and sum(M about x = 0) = 0, exactly."""
    force, moment = load_resultants(task)
    if len(task.supports) == 1:
        (s,) = task.supports
        reaction = -force
        return {f"R_{s.name}": reaction, f"M_{s.name}": -moment - reaction * s.x}
    a, b = task.supports
    r_b = (force * a.x - moment) / (b.x - a.x)
    return {f"R_{a.name}": -force - r_b, f"R_{b.name}": r_b}


def imbalance(task: BeamTask, reactions: Mapping[str, Fraction]) -> tuple[Fraction, Fraction]:
    """(net vertical force in P, net moment about x = 0 in P*L) of the loads plus proposed `reactions`.

    Both are zero exactly when the proposed reactions are the true ones (the beam is statically
    determinate). `reactions` must name every unknown of the task.
    """
    force, moment = load_resultants(task)
    for s in task.supports:
        r = reactions[f"R_{s.name}"]
        force += r
        moment += r * s.x
        if s.kind == "fixed":
            moment += reactions[f"M_{s.name}"]
    return force, moment


def solve_with_sympy(task: BeamTask) -> dict[str, Fraction]:
    """Every reaction of `task` from sympy's `Beam` (slow; the independent cross-check).

    sympy counts applied and reaction couples clockwise-positive; they are converted to this package's
    counter-clockwise-positive convention here.
    """
    import sympy
    from sympy.physics.continuum_mechanics.beam import Beam

    def q(value: Fraction) -> sympy.Rational:
        return sympy.Rational(value.numerator, value.denominator)

    beam = Beam(q(task.length), 1, 1)
    symbols: dict[str, sympy.Symbol] = {}
    for s in task.supports:
        for name in s.unknowns:
            symbols[name] = sympy.Symbol(name)
            beam.apply_load(symbols[name], q(s.x), -2 if is_moment(name) else -1)
    beam.bc_deflection = [(q(s.x), 0) for s in task.supports]
    beam.bc_slope = [(q(s.x), 0) for s in task.supports if s.kind == "fixed"]
    for load in task.loads:
        if load.kind == "point":
            beam.apply_load(q(load.value), q(load.start), -1)
        elif load.kind == "udl":
            assert load.end is not None
            beam.apply_load(q(load.value), q(load.start), 0, end=q(load.end))
        else:
            beam.apply_load(-q(load.value), q(load.start), -2)
    beam.solve_for_reaction_loads(*symbols.values())
    solved = beam.reaction_loads
    result: dict[str, Fraction] = {}
    for name, symbol in symbols.items():
        value = sympy.Rational(solved[symbol])
        fraction = Fraction(int(value.p), int(value.q))
        result[name] = -fraction if is_moment(name) else fraction
    return result


def gold_reactions(task: BeamTask, cross_check: bool = False) -> dict[str, Fraction]:
    """The reactions of `task`; with `cross_check`, also solved by sympy and compared.

    Raises VerifierError if the two computations disagree or the equilibrium solve fails (a broken
    task, not a bad answer).
    """
    try:
        gold = solve_equilibrium(task)
    except (ZeroDivisionError, ValueError, KeyError) as exc:
        raise VerifierError(f"cannot solve beam task {task.task_id!r}: {type(exc).__name__}: {exc}") from exc
    if cross_check:
        other = solve_with_sympy(task)
        if other != gold:
            raise VerifierError(f"ground truths disagree on {task.task_id!r}: equilibrium {gold} vs sympy Beam {other}")
    return gold
