"""Reward integrity: the gold answer in any accepted notation scores full marks; known hacks score 0 on
`correct`, both through the pure verifier and through a live episode."""

from fractions import Fraction as F

import pytest

from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.beam_statics.env import BeamStaticsEnv
from verigym.envs.beam_statics.generator import generate_in_category
from verigym.envs.beam_statics.ground_truth import solve_equilibrium
from verigym.envs.beam_statics.task import CATEGORIES, is_moment
from verigym.envs.beam_statics.verifier import WEIGHTS, show, verify


def _unit(name):
    return "PL" if is_moment(name) else "P"


def _cases():
    """(category, seed) pairs whose first two reactions differ, so a swap is really wrong."""
    picked = []
    for category in CATEGORIES:
        seed = 0
        while True:
            gold = solve_equilibrium(generate_in_category(category, seed))
            first, second = gold.values()
            if first != second:
                picked.append((category, seed))
                break
            seed += 1
    return picked


CASES = _cases()


def _answer(values):
    return ", ".join(f"{name} = {value}" for name, value in values.items())


def _gold_texts(task):
    return {name: show(name, value) for name, value in solve_equilibrium(task).items()}


def _hacks(task):
    gold = solve_equilibrium(task)
    texts = _gold_texts(task)
    (a, b) = task.unknowns
    wrong_a = show(a, gold[a] + 1)
    nonzero = next(name for name in task.unknowns if gold[name])
    close = f"{float(gold[a]) - 0.0001:.4f}*{_unit(a)}" if gold[a] else f"0.0001*{_unit(a)}"
    return {
        "boxed candidates in one value": _answer({**texts, a: f"\\boxed{{{texts[a]}}} \\boxed{{{wrong_a}}}"}),
        "boxed list of candidates": f"\\boxed{{{texts[a]}, {wrong_a}}}",
        "candidates joined by or": _answer({**texts, a: f"{texts[a]} or {wrong_a}"}),
        "duplicate unknown, different values": f"{a} = {texts[a]}, {a} = {wrong_a}, {b} = {texts[b]}",
        "duplicate unknown inside one box": f"\\boxed{{{a} = {wrong_a}, {a} = {texts[a]}, {b} = {texts[b]}}}",
        "swapped reactions": f"{a} = {show(a, gold[b])}, {b} = {show(b, gold[a])}",
        "extra unknowns listed": _answer({**texts, "R_C": "0", "M_B": "0"}),
        "numerically close but wrong": _answer({**texts, a: close}),
        "empty answer": "",
        "huge answer": _answer(texts) + ", " + ", ".join(f"{a} = {i}{_unit(a)}" for i in range(300)),
        "free symbol besides P and L": _answer({**texts, a: f"{texts[a]} + 0*x"}),
        "another unknown as a value": _answer({**texts, a: b}),
        "python injection": _answer({**texts, a: "__import__('os').getcwd()"}),
        "units dropped": _answer({**texts, nonzero: str(gold[nonzero])}),
        "only names": f"{a}, {b}",
    }


@pytest.mark.parametrize(("category", "seed"), CASES)
def test_gold_in_any_notation_scores_full_marks(category, seed):
    task = generate_in_category(category, seed)
    gold = solve_equilibrium(task)
    notations = [
        _answer(_gold_texts(task)),
        _answer({n: f"\\boxed{{{t}}}" for n, t in _gold_texts(task).items()}),
        _answer({n: f"\\frac{{{v.numerator}{_unit(n)}}}{{{v.denominator}}}" for n, v in gold.items()}),
        _answer({n: f"{v.numerator}*{'*'.join(_unit(n))}/{v.denominator}" for n, v in gold.items()}),
        "; ".join(f"{n} = ({v.numerator}/{v.denominator}) {_unit(n)}" for n, v in reversed(gold.items())),
    ]
    for text in notations:
        verdict = verify(task, text)
        assert verdict.passed and verdict.components == {"correct": 1.0, "per_reaction": 1.0, "format": 1.0}, text


@pytest.mark.parametrize(("category", "seed"), CASES)
def test_hacks_score_zero_on_correct(category, seed):
    task = generate_in_category(category, seed)
    for label, text in _hacks(task).items():
        verdict = verify(task, text)
        assert verdict.components["correct"] == 0.0 and not verdict.passed, (label, text)
        env = BeamStaticsEnv()
        env.reset(options={"task": task})
        _, reward, terminated, _, info = env.step(format_answer(text))
        assert info["reward_components"]["correct"] == 0.0, label
        if terminated:  # a readable but wrong answer: only format (and any truly right reaction) pays
            assert label in ("swapped reactions", "numerically close but wrong"), label
            assert reward <= WEIGHTS["format"] + WEIGHTS["per_reaction"] / 2
        else:
            assert reward == 0.0 and info["malformed"], label


def test_swapping_or_approximating_earns_no_per_reaction_credit():
    task = generate_in_category(*CASES[0])
    hacks = _hacks(task)
    for label in ("swapped reactions",):
        verdict = verify(task, hacks[label])
        assert verdict.components == {"correct": 0.0, "per_reaction": 0.0, "format": 1.0}, label
    assert verify(task, hacks["numerically close but wrong"]).components["per_reaction"] == 0.5


def test_repeating_decimals_are_not_accepted_as_fractions():
    task = next(
        t for t in (generate_in_category("overhang/mixed", seed) for seed in range(500))
        if any(v.denominator == 3 for v in solve_equilibrium(t).values())
    )
    gold = solve_equilibrium(task)
    text = _answer({n: f"{float(v):.10f}*{_unit(n)}" for n, v in gold.items()})
    assert verify(task, text).components["correct"] == 0.0


def test_hidden_answer_in_think_block_is_ignored():
    task = generate_in_category(*CASES[1])
    texts = _gold_texts(task)
    wrong = {n: show(n, solve_equilibrium(task)[n] + 2) for n in task.unknowns}
    env = BeamStaticsEnv()
    env.reset(options={"task": task})
    action = f"<think>{format_answer(_answer(texts))}</think>{format_answer(_answer(wrong))}"
    _, reward, terminated, _, info = env.step(action)
    assert terminated and info["reward_components"]["correct"] == 0.0 and reward == pytest.approx(WEIGHTS["format"])


def test_one_answer_per_episode():
    task = generate_in_category(*CASES[2])
    env = BeamStaticsEnv()
    env.reset(options={"task": task})
    wrong = {n: show(n, v + 1) for n, v in solve_equilibrium(task).items()}
    env.step(format_answer(_answer(wrong)))
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(format_answer(_answer(_gold_texts(task))))


def test_check_budget_cannot_be_exceeded_to_probe_answers():
    task = generate_in_category(*CASES[3])
    env = BeamStaticsEnv(max_checks=2, max_turns=8)
    env.reset(options={"task": task})
    probe = {n: "0" for n in task.unknowns}
    for expected_left in (1, 0):
        observation, *_ = env.step(format_tool_call("check", probe))
        assert f"{expected_left} check(s) left" in observation[0]["content"]
    observation, reward, terminated, truncated, info = env.step(format_tool_call("check", _gold_texts(task)))
    assert "check refused" in observation[0]["content"] and "balanced" not in observation[0]["content"]
    assert info["malformed"] and reward == 0.0 and not terminated


def test_reward_weights_for_partial_and_full_answers():
    task = generate_in_category(*CASES[4])
    gold = solve_equilibrium(task)
    a, b = task.unknowns
    half = {a: show(a, gold[a]), b: show(b, gold[b] + F(1, 2))}
    for values, expected in [
        (_gold_texts(task), WEIGHTS["correct"] + WEIGHTS["per_reaction"] + WEIGHTS["format"]),
        (half, WEIGHTS["per_reaction"] / 2 + WEIGHTS["format"]),
        ({n: show(n, v + 1) for n, v in gold.items()}, WEIGHTS["format"]),
    ]:
        env = BeamStaticsEnv()
        env.reset(options={"task": task})
        _, reward, terminated, _, info = env.step(format_answer(_answer(values)))
        assert terminated and reward == pytest.approx(expected), values
    assert WEIGHTS["format"] <= 0.05
