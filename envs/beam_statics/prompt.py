"""The text the agent sees: the protocol (system message) and the beam (user message)."""

from __future__ import annotations

from fractions import Fraction

from verigym.envs.beam_statics.task import BeamTask, Load, Support, is_moment


CHECK_POINTS = {"origin": "x = 0", "A": "support A"}  # `check_about` -> the point the check takes moments about


def system_prompt(max_checks: int, max_turns: int, check_about: str = "origin") -> str:
    """The rules of the episode: sign convention, value format, the check tool and the answer format."""
    check = (
        f"Tool: you may call `check` at most {max_checks} time(s), e.g.\n"
        '<tool_call>{"name": "check", "arguments": {"R_A": "3P/4", "R_B": "P/4"}}</tool_call>\n'
        "Give it a value for every unknown. It replies with the net vertical force and the net moment about "
        f"{CHECK_POINTS[check_about]} of the loads plus your proposed reactions; both are 0 exactly when the reactions are right.\n"
        if max_checks > 0
        else "There are no tools in this episode.\n"
    )
    return (
        "You find the support reactions of statically determinate beams.\n"
        "Sign convention: the beam lies along the x-axis (x increases to the right); vertical forces are "
        "positive upward; moments (applied and reaction) are positive counter-clockwise. There are no "
        "horizontal loads; ignore the beam's own weight.\n"
        "Values: give each unknown as an exact expression; forces as multiples of P (e.g. 3P/4, -P/2, 0), "
        "moments as multiples of P*L (e.g. 5PL/2). Fractions, decimals, * and \\frac{}{} are accepted; "
        "decimals must be exact.\n"
        + check
        + "Final answer (ends the episode): name every unknown exactly once, e.g.\n"
        "<answer>R_A = 3P/4, R_B = P/4</answer>\n"
        f"Each turn must contain exactly one tool call or one answer. You have at most {max_turns} turns."
    )


PROMPT_STYLES = ("full", "terse")


def terse_system_prompt(max_checks: int, max_turns: int, check_about: str = "origin") -> str:
    """The same rules in a few lines (`prompt = "terse"`): a small model reads ~4x fewer tokens."""
    check = (
        f'check (at most {max_checks}): <tool_call>{{"name": "check", "arguments": {{"R_A": "0", "M_A": "0"}}}}</tool_call> '
        f"replies the net force and the net moment about {CHECK_POINTS[check_about]} of the loads plus your reactions (0 and 0 when right).\n"
        if max_checks > 0
        else ""
    )
    return (
        "Find the support reactions. Up and counter-clockwise are positive; forces in P, moments in PL.\n"
        + check
        + f"Answer: <answer>R_A = 3P/4, R_B = P/4</answer>. One call or answer per turn, {max_turns} turns."
    )


def terse_describe(task: BeamTask) -> str:
    """The beam in four lines (`prompt = "terse"`); signed values (up / counter-clockwise positive)."""
    kinds = {"pin": "pin", "roller": "roller", "fixed": "fixed"}
    supports = "; ".join(f"{kinds[s.kind]} {s.name} at x = {length(s.x)}" for s in task.supports)
    loads = "; ".join(_terse_load(load) for load in task.loads)
    unknowns = ", ".join(name for s in task.supports for name in s.unknowns)
    return f"Beam from x = 0 to x = {length(task.length)}.\nSupports: {supports}.\nLoads: {loads}.\nUnknowns: {unknowns}."


def _terse_load(load: Load) -> str:
    if load.kind == "point":
        return f"force {_scaled(load.value, 'P')} at x = {length(load.start)}"
    if load.kind == "udl":
        assert load.end is not None
        return f"udl {_scaled(load.value, 'P')}/L from x = {length(load.start)} to x = {length(load.end)}"
    return f"couple {_scaled(load.value, 'PL')} at x = {length(load.start)}"


def describe(task: BeamTask) -> str:
    """The beam, its supports and loads, and the list of unknowns to find."""
    lines = [f"A horizontal beam of length {length(task.length)} lies along the x-axis from x = 0 to x = {length(task.length)}."]
    lines.append("Supports:")
    lines += [f"- {_support(s)}" for s in task.supports]
    if task.layout == "cantilever":
        free = task.length if task.supports[0].x == 0 else Fraction(0)
        lines.append(f"The beam is a cantilever: it is free at x = {length(free)}.")
    lines.append("Loads:")
    lines += [f"- {_load(load)}" for load in task.loads]
    lines.append("Unknowns:")
    for s in task.supports:
        for name in s.unknowns:
            what = "the reaction moment" if is_moment(name) else "the vertical reaction force"
            unit = "P*L" if is_moment(name) else "P"
            lines.append(f"- {name}: {what} at support {s.name} (x = {length(s.x)}), in terms of {unit}")
    lines.append("Find every unknown.")
    return "\n".join(lines)


def length(value: Fraction) -> str:
    """A position or length in units of L: `0`, `L`, `3L`, `3L/2`."""
    return _scaled(value, "L")


def _scaled(value: Fraction, unit: str) -> str:
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    num, den = abs(value.numerator), value.denominator
    head = unit if num == 1 else f"{num}{unit}"
    return sign + head + (f"/{den}" if den != 1 else "")


def _support(s: Support) -> str:
    kind = {"pin": "a pin support", "roller": "a roller support", "fixed": "a fixed (clamped) support"}[s.kind]
    return f"{kind} {s.name} at x = {length(s.x)}"


def _load(load: Load) -> str:
    at = f"at x = {length(load.start)}"
    if load.kind == "point":
        direction = "a downward" if load.value < 0 else "an upward"
        return f"{direction} point force of {_scaled(abs(load.value), 'P')} {at}"
    if load.kind == "udl":
        assert load.end is not None
        direction = "downward" if load.value < 0 else "upward"
        return (
            f"a uniformly distributed {direction} load of intensity {_scaled(abs(load.value), 'P')}/L "
            f"from x = {length(load.start)} to x = {length(load.end)}"
        )
    sense = "counter-clockwise" if load.value > 0 else "clockwise"
    return f"a {sense} applied moment (couple) of {_scaled(abs(load.value), 'PL')} {at}"
