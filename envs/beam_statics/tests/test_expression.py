"""The exact expression parser: accepted notations, precise rejections, bounded cost, and agreement with
sympy's parser on random well-formed expressions."""

import random
import re
import time
from fractions import Fraction as F

import pytest
import sympy
from sympy.parsing.sympy_parser import parse_expr, rationalize, standard_transformations

from verigym.envs.beam_statics.expression import ExpressionError, format_monomial, parse_expression

P, L, PL, ONE = (1, 0), (0, 1), (1, 1), (0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3P/4", {P: F(3, 4)}),
        ("3*P/4", {P: F(3, 4)}),
        ("0.75*P", {P: F(3, 4)}),
        ("0.75P", {P: F(3, 4)}),
        (".5 P", {P: F(1, 2)}),
        ("\\frac{3P}{4}", {P: F(3, 4)}),
        ("\\dfrac{3}{4}P", {P: F(3, 4)}),
        ("\\tfrac{3}{4} \\cdot P", {P: F(3, 4)}),
        ("-P/2", {P: F(-1, 2)}),
        ("- \\frac{P}{2}", {P: F(-1, 2)}),
        ("\\boxed{3P/4}", {P: F(3, 4)}),
        ("\\boxed{-\\frac{5PL}{2}}", {PL: F(-5, 2)}),
        ("3/4 P", {P: F(3, 4)}),
        ("(3/4)P", {P: F(3, 4)}),
        ("3 P L / 4", {PL: F(3, 4)}),
        ("P*L", {PL: F(1)}),
        ("P \\times L", {PL: F(1)}),
        ("\u2212P\u00b7L", {PL: F(-1)}),
        ("\\left(3P\\right)/4", {P: F(3, 4)}),
        ("[P + P]/4", {P: F(1, 2)}),
        ("2(P + L) - 2L", {P: F(2)}),
        ("P^2/P", {P: F(1)}),
        ("P**2/P", {P: F(1)}),
        ("2^{3}P", {P: F(8)}),
        ("--P", {P: F(1)}),
        ("P - P", {}),
        ("0", {}),
        ("0P", {}),
        ("P/2L", {PL: F(1, 2)}),  # left to right, as sympy reads it: (P/2)*L
        ("PL/L", {P: F(1)}),
        ("7", {ONE: F(7)}),
    ],
)
def test_accepted_notations(text, expected):
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("3 4", "follows another factor"),
        ("P2", "follows another factor"),
        ("x", "unknown symbol 'x'"),
        ("3P/4 + 0*x", "unknown symbol 'x'"),
        ("R_B", "unknown symbol 'R'"),
        ("sqrt(P)", "unknown symbol 's'"),
        ("1e-3*P", "unknown symbol 'e'"),
        ("3P/4 or P/2", "unknown symbol 'o'"),
        ("__import__('os').system('id')", "unexpected character '_'"),
        ("P, L", "unexpected character ','"),
        ("3P/4 = P", "unexpected character '='"),
        ("\\boxed{3P/4}\\boxed{P/2}", "wrap the whole value"),
        ("P + \\boxed{P}", "only wrap the whole value"),
        ("\\text{P}", "unsupported LaTeX command"),
        ("\\sqrt{P}", "unsupported LaTeX command"),
        ("\\frac{1}2", "two brace groups"),
        ("P/(P - L)", "division by a sum"),
        ("P/0", "division by zero"),
        ("P/(L - L)", "division by zero"),
        ("2^10", "exponent must be a whole number"),
        ("P^-1", "exponent must be a whole number"),
        ("P^{1/2}", "expected '}' but found '/'"),
        ("(P", "expected ')'"),
        ("P)", "unexpected ')'"),
        ("+-", "ends where a number"),
        ("9" * 16, "more than 15 characters"),
        ("P" * 201, "limit is 200"),
        ("(" * 13 + "P" + ")" * 13, "more than 12 deep"),
        ("P^3*P^3*P", "power of P or L beyond 6"),
    ],
)
def test_rejections_say_what_is_wrong(text, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        parse_expression(text)


def test_worst_case_inputs_stay_cheap():
    nasty = [
        "((((((((((((9^3)^3)^3)^3)^3)^3)^3)^3)^3)^3)^3)",
        "(P+L)^3" * 20,
        "999999999999999^3" + "*999999999999999^3" * 10,
        "-" * 199 + "P",
    ]
    start = time.process_time()
    for text in nasty:
        try:
            parse_expression(text[:200])
        except ExpressionError:
            pass
    assert time.process_time() - start < 0.5


def test_canonical_format_round_trips():
    for coefficient in (F(3, 4), F(-1), F(1), F(0), F(-7, 3), F(12)):
        for monomial in (P, PL):
            text = format_monomial(coefficient, monomial)
            assert parse_expression(text) == ({monomial: coefficient} if coefficient else {}), text
    assert format_monomial(F(-3, 4), P) == "-3P/4"
    assert format_monomial(F(5, 2), PL) == "5PL/2"
    assert format_monomial(F(1), PL) == "PL"


def _random_expression(rng, depth=0):
    choice = rng.random()
    if depth > 3 or choice < 0.35:
        return rng.choice(["P", "L", str(rng.randint(1, 9)), f"{rng.randint(0, 9)}.{rng.randint(0, 99):02d}"])
    op = rng.choice(["+", "-", "*", "/", "implicit", "paren", "neg"])
    left, right = _random_expression(rng, depth + 1), _random_expression(rng, depth + 1)
    if op == "/":
        return f"({left})/{rng.randint(1, 9)}"
    if op == "implicit":
        return f"{rng.randint(2, 9)}({left})"
    if op == "paren":
        return f"({left})"
    if op == "neg":
        return f"-({left})"
    return f"{left} {op} {right}"


def _as_sympy(poly):
    p, l = sympy.symbols("P L")
    return sum((sympy.Rational(c.numerator, c.denominator) * p**a * l**b for (a, b), c in poly.items()), sympy.Integer(0))


def test_agrees_with_sympy_on_random_expressions():
    rng = random.Random(7)
    p, l = sympy.symbols("P L")
    compared = 0
    for _ in range(150):
        text = _random_expression(rng)
        try:
            mine = parse_expression(text)
        except ExpressionError as exc:
            assert "beyond" in str(exc) or "more than" in str(exc), (text, exc)
            continue
        explicit = re.sub(r"(\d)\(", r"\1*(", text)
        theirs = parse_expr(explicit, local_dict={"P": p, "L": l}, transformations=standard_transformations + (rationalize,))
        assert sympy.expand(_as_sympy(mine) - theirs) == 0, text
        compared += 1
    assert compared > 120
