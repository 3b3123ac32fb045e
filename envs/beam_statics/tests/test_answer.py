"""Reading `<answer>` text and `check` arguments: accepted layouts and exact complaints."""

from fractions import Fraction as F

import pytest

from verigym.envs.beam_statics.answer import AnswerError, normalize_name, parse_answer, parse_check_arguments

TWO = ("R_A", "R_B")
FIXED = ("R_A", "M_A")


@pytest.mark.parametrize(
    "text",
    [
        "R_A = 3P/4, R_B = P/4",
        "R_A=3*P/4; R_B=0.25*P",
        "R_B = P/4\nR_A = \\frac{3P}{4}",
        "$R_A = \\frac{3P}{4}$, $R_B = \\frac{P}{4}$",
        "R_{A} = \\boxed{3P/4}, R_{B} = \\boxed{P/4}",
        "\\boxed{R_A = 3P/4}, \\boxed{R_B = P/4}",
        "\\boxed{R_A = 3P/4, R_B = P/4}",
        "R_A &= \\frac{3}{4}P \\\\ R_B &= \\frac{1}{4}P",
        "\\(R_A = 3P/4\\), \\(R_B = P/4\\)",
        "R_A = 3P/4, R_B = P/4,",
    ],
)
def test_equivalent_layouts_read_the_same(text):
    assert parse_answer(text, TWO) == {"R_A": F(3, 4), "R_B": F(1, 4)}


def test_moments_are_read_in_units_of_PL():
    assert parse_answer("R_A = 2P, M_A = -5PL/2", FIXED) == {"R_A": F(2), "M_A": F(-5, 2)}
    assert parse_answer("R_A = 0, M_A = 3 P \\cdot L", FIXED) == {"R_A": F(0), "M_A": F(3)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the answer is empty"),
        ("  $ $ ", "the answer is empty"),
        ("R_A = P/2, " * 200, "limit is 2000"),
        ("R_A = 3P/4", "R_B is missing"),
        ("R_A = 3P/4, R_B = P/4, R_C = 0", "'R_C' is not one of the unknowns"),
        ("R_A = 3P/4, R_A = P/2, R_B = P/4", "R_A is given 2 times"),
        ("R_A = R_B = P/2", "more than one '='"),
        ("3P/4, P/4", "has no '='"),
        ("R_A = 3P/4 + x, R_B = P/4", "R_A: unknown symbol 'x'"),
        ("R_A = 3/4, R_B = P/4", "R_A is a force: a multiple of P"),
        ("R_A = 3PL/4, R_B = P/4", "R_A is a force"),
        ("R_A = P^2, R_B = P/4", "R_A is a force"),
        ("r_a = 3P/4, R_B = P/4", "'r_a' is not one of the unknowns"),
        ("R_A (upward) = 3P/4, R_B = P/4", "is not one of the unknowns"),
        ("R_A = \\boxed{3P/4, P/2}, R_B = P/4", "R_A: unexpected character ','"),
    ],
)
def test_answer_problems_are_named(text, message):
    with pytest.raises(AnswerError, match=message.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")) as info:
        parse_answer(text, TWO)
    assert "<answer>R_A = ..., R_B = ...</answer>" in str(info.value)


def test_moment_with_force_units_is_refused():
    with pytest.raises(AnswerError, match="M_A is a moment: a multiple of P\\*L"):
        parse_answer("R_A = P, M_A = 2P", FIXED)


def test_every_problem_is_listed_at_once():
    with pytest.raises(AnswerError) as info:
        parse_answer("R_A = y, R_C = P", TWO)
    text = str(info.value)
    assert "'R_C' is not one of the unknowns" in text and "R_A: unknown symbol 'y'" in text and "R_B is missing" in text


def test_check_arguments():
    assert parse_check_arguments({"R_A": "3P/4", "R_B": "P/4"}, TWO) == {"R_A": F(3, 4), "R_B": F(1, 4)}
    assert parse_check_arguments({"R_{A}": 0, "R_B": "P"}, TWO) == {"R_A": F(0), "R_B": F(1)}
    for arguments, message in [
        ({"R_A": "3P/4"}, "R_B is missing"),
        ({"R_A": "3P/4", "R_B": "P/4", "R_C": "P"}, "'R_C' is not one of the unknowns"),
        ({"R_A": True, "R_B": "P"}, "must be a string"),
        ({"R_A": ["P"], "R_B": "P"}, "must be a string"),
        ({"R_A": 0.75, "R_B": "P"}, "R_A is a force"),
        ({"R_A": "3P/4", "R_B": "q"}, "R_B: unknown symbol 'q'"),
        ({"R_A": "P", "R_{A}": "P", "R_B": "P"}, "R_A is given 2 times"),
    ]:
        with pytest.raises(AnswerError, match=message) as info:
            parse_check_arguments(arguments, TWO)
        assert '"R_A": "..."' in str(info.value)


def test_normalize_name():
    assert normalize_name("R_A") == "R_A"
    assert normalize_name(" R_{A} ") == "R_A"
    assert normalize_name("$M_A$") == "M_A"
    assert normalize_name("RA") is None
    assert normalize_name("R_A + 1") is None
