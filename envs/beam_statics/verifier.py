"""The verifier: a pure function of (task, answer text) -> `Verdict`, graded by exact rational equality.

Components (each in [0, 1]):
  correct       1 if every named reaction equals the gold value exactly, else 0
  per_reaction  the fraction of reactions that are exactly right (dense signal)
  format        1 if the answer was readable: every unknown named once, exact values of the right kind
A malformed answer gets all zeros and `details["malformed"]` (the env shows it and lets the agent retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from verigym.envs.beam_statics.answer import FORCE, MOMENT, AnswerError, parse_answer
from verigym.envs.beam_statics.expression import format_monomial
from verigym.envs.beam_statics.ground_truth import gold_reactions
from verigym.envs.beam_statics.task import BeamTask, is_moment
from verigym.envs.verdict import Verdict

COMPONENTS = ("correct", "per_reaction", "format")
WEIGHTS = {"correct": 1.0, "per_reaction": 0.2, "format": 0.05}


def verify(task: BeamTask, text: str, gold: Mapping[str, Fraction] | None = None) -> Verdict:
    """Judge the answer `text` (the inside of `<answer>`) for `task`.

    `gold` defaults to `gold_reactions(task)`; pass it to skip re-solving. Never raises for bad input;
    raises VerifierError only if the gold reactions cannot be computed.
    """
    gold = gold_reactions(task) if gold is None else gold
    try:
        values = parse_answer(text, task.unknowns)
    except AnswerError as exc:
        return Verdict(False, 0.0, dict.fromkeys(COMPONENTS, 0.0), {"malformed": str(exc)})
    return grade(values, gold)


def grade(values: Mapping[str, Fraction], gold: Mapping[str, Fraction]) -> Verdict:
    """Compare well-formed reactions with the gold ones, unknown by unknown."""
    reactions = {
        name: {"given": show(name, values[name]), "expected": show(name, expected), "correct": values[name] == expected}
        for name, expected in gold.items()
    }
    right = sum(r["correct"] for r in reactions.values())
    fraction = right / len(gold)
    passed = right == len(gold)
    components = {"correct": float(passed), "per_reaction": fraction, "format": 1.0}
    return Verdict(passed, fraction, components, {"reactions": reactions})


def show(name: str, coefficient: Fraction) -> str:
    """A reaction value as canonical text (`3P/4` for forces, `-5PL/2` for moments)."""
    return format_monomial(coefficient, MOMENT if is_moment(name) else FORCE)
