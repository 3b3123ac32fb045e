"""Ground truth: hand-worked beams, the equilibrium solver against sympy's Beam on 1000+ tasks, and
VerifierError when the two disagree."""

from fractions import Fraction as F
from multiprocessing import get_context

import pytest

from verigym.envs.beam_statics import ground_truth
from verigym.envs.beam_statics.generator import generate_in_category
from verigym.envs.beam_statics.ground_truth import gold_reactions, imbalance, solve_equilibrium, solve_with_sympy
from verigym.envs.beam_statics.task import CATEGORIES, BeamTask, Load, Support
from verigym.envs.verdict import VerifierError

SEEDS_PER_CATEGORY = 84  # 12 categories x 84 = 1008 tasks


def _two(length, a, b, *loads):
    return BeamTask("hand", 0, "overhang/mixed", F(length), (Support("A", F(a), "pin"), Support("B", F(b), "roller")), tuple(loads))


def _fixed(length, x, *loads):
    return BeamTask("hand", 0, "cantilever/mixed", F(length), (Support("A", F(x), "fixed"),), tuple(loads))


# Worked by hand: sum of moments about A, then sum of vertical forces.
HAND_WORKED = [
    # 2P down at x=L on a 4L simple span: R_B*4 = 2*1 -> P/2; R_A = 3P/2.
    (_two(4, 0, 4, Load("point", F(-2), F(1))), {"R_A": F(3, 2), "R_B": F(1, 2)}),
    # UDL P/L over the whole 4L span: 2P each.
    (_two(4, 0, 4, Load("udl", F(-1), F(0), F(4))), {"R_A": F(2), "R_B": F(2)}),
    # CCW couple 3PL on a 3L span: R_B*3 + 3 = 0 -> -P; R_A = +P.
    (_two(3, 0, 3, Load("moment", F(3), F(2))), {"R_A": F(1), "R_B": F(-1)}),
    # Overhang: supports at L and 3L, P down at the free end x=4L: R_B*2 = 1*3 -> 3P/2; R_A = -P/2.
    (_two(4, 1, 3, Load("point", F(-1), F(4))), {"R_A": F(-1, 2), "R_B": F(3, 2)}),
    # Cantilever fixed at 0, P down at 2L: R_A = P, M_A = 2PL (counter-clockwise).
    (_fixed(2, 0, Load("point", F(-1), F(2))), {"R_A": F(1), "M_A": F(2)}),
    # Cantilever fixed at 3L, UDL 2P/L over [0, L] (4P... no: 2P at x=L/2): R_A = 2P; M_A = -2P*(3 - 1/2)L = -5PL.
    (_fixed(3, 3, Load("udl", F(-2), F(0), F(1))), {"R_A": F(2), "M_A": F(-5)}),
    # Cantilever fixed at 0 with a clockwise couple 2PL: R_A = 0, M_A = 2PL.
    (_fixed(5, 0, Load("moment", F(-2), F(4))), {"R_A": F(0), "M_A": F(2)}),
]


@pytest.mark.parametrize(("task", "expected"), HAND_WORKED)
def test_hand_worked_beams(task, expected):
    assert solve_equilibrium(task) == expected
    assert solve_with_sympy(task) == expected
    assert imbalance(task, expected) == (0, 0)


def test_imbalance_reports_the_error_of_wrong_reactions():
    task, gold = HAND_WORKED[0]
    assert imbalance(task, {"R_A": gold["R_A"] + 1, "R_B": gold["R_B"]}) == (1, 0)
    assert imbalance(task, {"R_A": gold["R_A"], "R_B": gold["R_B"] + 1}) == (1, 4)
    fixed, gold = HAND_WORKED[4]
    assert imbalance(fixed, {"R_A": gold["R_A"], "M_A": gold["M_A"] + F(1, 2)}) == (0, F(1, 2))


def _both(key):
    category, seed = key
    task = generate_in_category(category, seed)
    return category, solve_equilibrium(task), solve_with_sympy(task)


def test_equilibrium_agrees_with_sympy_beam_on_1000_tasks():
    keys = [(category, seed) for category in CATEGORIES for seed in range(SEEDS_PER_CATEGORY)]
    with get_context("fork").Pool(2) as pool:
        results = pool.map(_both, keys, chunksize=24)
    assert len(results) >= 1000
    disagreements = [(key, fast, slow) for key, (_, fast, slow) in zip(keys, results) if fast != slow]
    assert not disagreements, disagreements[:3]
    assert {category for category, _, _ in results} == set(CATEGORIES)


def test_gold_reactions_cross_check_raises_verifier_error_on_disagreement(monkeypatch):
    task, expected = HAND_WORKED[3]
    assert gold_reactions(task, cross_check=True) == expected
    monkeypatch.setattr(ground_truth, "solve_with_sympy", lambda t: {"R_A": F(0), "R_B": F(1)})
    assert gold_reactions(task) == expected  # the run-time path does not consult sympy
    with pytest.raises(VerifierError, match="ground truths disagree"):
        gold_reactions(task, cross_check=True)


def test_gold_reactions_wraps_a_solver_crash_in_verifier_error():
    task, _ = HAND_WORKED[0]
    broken = object.__new__(BeamTask)  # bypasses validation, as a corrupted record could
    for name in ("task_id", "seed", "category", "length", "loads"):
        object.__setattr__(broken, name, getattr(task, name))
    object.__setattr__(broken, "supports", (Support("A", F(2), "pin"), Support("B", F(2), "roller")))
    with pytest.raises(VerifierError, match="cannot solve beam task"):
        gold_reactions(broken)
