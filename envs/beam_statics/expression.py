"""A small, exact parser for answer values: polynomials in P and L with rational coefficients.

Nothing is ever evaluated as code: the text is tokenised and read by a recursive-descent parser whose
only operations are exact `Fraction` arithmetic on a dict of monomials. Accepted: integers and decimals,
`P` and `L`, `+ - * / ^ **`, parentheses/brackets/braces, implicit multiplication (`3PL/4`, `2(P+L)`),
and the LaTeX forms `\\frac{a}{b}` (`\\dfrac`, `\\tfrac`), `\\cdot`, `\\times`, `\\left`/`\\right`, spacing
commands and one `\\boxed{...}` around the whole value. Anything else is an `ExpressionError` saying what
and where. Input length, nesting, exponents and coefficient sizes are bounded, so no input is expensive.
"""

from __future__ import annotations

import re
from fractions import Fraction

Monomial = tuple[int, int]  # (power of P, power of L)
Poly = dict[Monomial, Fraction]  # no zero coefficients: {} is the value 0

MAX_VALUE_CHARS = 200
MAX_DIGITS = 15
MAX_DEPTH = 12
MAX_EXPONENT = 3
MAX_DEGREE = 6
MAX_TERMS = 16
MAX_COEFFICIENT_BITS = 256

_SYMBOLS: dict[str, Monomial] = {"P": (1, 0), "L": (0, 1)}
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)|(?P<cmd>\\[A-Za-z]+|\\[,;:! ])|(?P<sym>[A-Za-z])|(?P<op>\*\*|[-+*/^(){}\[\]]))")
_UNICODE = str.maketrans({"\u2212": "-", "\u2013": "-", "\u00b7": "*", "\u22c5": "*", "\u00d7": "*", "\u2219": "*"})
_COMMANDS = {"\\frac": "frac", "\\dfrac": "frac", "\\tfrac": "frac", "\\cdot": "*", "\\times": "*", "\\boxed": "boxed"}
_SKIPPED = {"\\left", "\\right", "\\,", "\\;", "\\:", "\\!", "\\ "}
_OPEN = {"(": ")", "[": "]", "{": "}"}


class ExpressionError(ValueError):
    """The text is not an exact expression in P and L; the message says what is wrong and where."""


def parse_expression(text: str) -> Poly:
    """The exact value of `text` as {(power of P, power of L): coefficient}; raises ExpressionError."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_VALUE_CHARS:
        raise ExpressionError(f"the value is {len(text)} characters long; the limit is {MAX_VALUE_CHARS}")
    tokens = _tokenize(text.translate(_UNICODE))
    if not tokens:
        raise ExpressionError("the value is empty")
    if tokens[0] == ("boxed", "\\boxed"):
        tokens = _unbox(tokens)
    return _Parser(tokens).parse()


def monomial_coefficient(poly: Poly, monomial: Monomial) -> Fraction | None:
    """`c` if `poly` is exactly `c * monomial` (0 counts, as `{}`), else None."""
    if not poly:
        return Fraction(0)
    if len(poly) == 1 and monomial in poly:
        return poly[monomial]
    return None


def format_monomial(coefficient: Fraction, monomial: Monomial) -> str:
    """Canonical text of `coefficient * P^a * L^b` (`3P/4`, `-PL/2`, `0`) that parses back to itself."""
    if coefficient == 0:
        return "0"
    if monomial[0] < 0 or monomial[1] < 0:
        raise ValueError(f"cannot format negative powers {monomial}")
    symbols = "P" * monomial[0] + "L" * monomial[1]
    sign = "-" if coefficient < 0 else ""
    num, den = abs(coefficient.numerator), coefficient.denominator
    head = symbols if num == 1 and symbols else f"{num}{symbols}"
    return f"{sign}{head}" + (f"/{den}" if den != 1 else "")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos} of {text!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "num":
            if len(value) > MAX_DIGITS:
                raise ExpressionError(f"the number {value[:20]}... has more than {MAX_DIGITS} characters")
            tokens.append(("num", value))
        elif kind == "sym":
            if value not in _SYMBOLS:
                raise ExpressionError(f"unknown symbol {value!r} in {text!r}: values may only use P and L")
            tokens.append(("sym", value))
        elif kind == "cmd":
            if value in _SKIPPED:
                continue
            if value not in _COMMANDS:
                raise ExpressionError(f"unsupported LaTeX command {value!r}; use plain arithmetic, \\frac{{}}{{}} or \\cdot")
            meaning = _COMMANDS[value]
            tokens.append(("op", meaning) if meaning == "*" else (meaning, value))
        else:
            tokens.append(("op", "^" if value == "**" else value))
    return tokens


def _unbox(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(tokens) < 3 or tokens[1] != ("op", "{") or tokens[-1] != ("op", "}"):
        raise ExpressionError("\\boxed must wrap the whole value, as in \\boxed{3P/4}")
    depth = 0
    for i, token in enumerate(tokens[1:], start=1):
        if token == ("op", "{"):
            depth += 1
        elif token == ("op", "}"):
            depth -= 1
            if depth == 0 and i != len(tokens) - 1:
                raise ExpressionError("\\boxed must wrap the whole value, as in \\boxed{3P/4}, and appear once")
    return tokens[2:-1]


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Poly:
        value = self.expr()
        token = self.peek()
        if token is not None:
            raise ExpressionError(f"unexpected {token[1]!r} after a complete expression")
        return value

    def expect(self, op: str) -> None:
        token = self.peek()
        if token != ("op", op):
            found = "the end of the value" if token is None else repr(token[1])
            raise ExpressionError(f"expected {op!r} but found {found}")
        self.i += 1

    def expr(self) -> Poly:
        value = self.term()
        while (token := self.peek()) is not None and token in (("op", "+"), ("op", "-")):
            self.i += 1
            right = self.term()
            value = _add(value, right if token[1] == "+" else _neg(right))
        return value

    def term(self) -> Poly:
        value = self.signed()
        while (token := self.peek()) is not None:
            if token in (("op", "*"), ("op", "/")):
                self.i += 1
                right = self.signed()
                value = _mul(value, right) if token[1] == "*" else _div(value, right)
            elif token[0] == "num":
                raise ExpressionError(f"the number {token[1]} follows another factor without an operator; write * or /")
            elif token[0] in ("sym", "frac") or token in (("op", "("), ("op", "["), ("op", "{")):
                value = _mul(value, self.power())
            elif token[0] == "boxed":
                raise ExpressionError("\\boxed may only wrap the whole value, once")
            else:
                break
        return value

    def signed(self) -> Poly:
        negative = False
        while (token := self.peek()) in (("op", "+"), ("op", "-")):
            negative ^= token == ("op", "-")
            self.i += 1
        value = self.power()
        return _neg(value) if negative else value

    def power(self) -> Poly:
        base = self.atom()
        if self.peek() != ("op", "^"):
            return base
        self.i += 1
        token = self.peek()
        closing = None
        if token in (("op", "{"), ("op", "(")):
            closing = _OPEN[token[1]]
            self.i += 1
            token = self.peek()
        if token is None or token[0] != "num" or not token[1].isdigit() or int(token[1]) > MAX_EXPONENT:
            raise ExpressionError(f"an exponent must be a whole number from 0 to {MAX_EXPONENT}")
        self.i += 1
        if closing:
            self.expect(closing)
        result: Poly = {(0, 0): Fraction(1)}
        for _ in range(int(token[1])):
            result = _mul(result, base)
        return result

    def atom(self) -> Poly:
        token = self.peek()
        if token is None:
            raise ExpressionError("the value ends where a number, P, L or '(' was expected")
        kind, text = token
        self.i += 1
        if kind == "num":
            return _constant(Fraction(text))
        if kind == "sym":
            return {_SYMBOLS[text]: Fraction(1)}
        if kind == "frac":
            numerator = self.group("{", "\\frac needs two brace groups, as in \\frac{3P}{4}")
            return _div(numerator, self.group("{", "\\frac needs two brace groups, as in \\frac{3P}{4}"))
        if kind == "op" and text in _OPEN:
            self.i -= 1
            return self.group(text, "")
        if kind == "boxed":
            raise ExpressionError("\\boxed may only wrap the whole value, once")
        raise ExpressionError(f"unexpected {text!r} where a number, P, L or '(' was expected")

    def group(self, opening: str, message: str) -> Poly:
        if self.peek() != ("op", opening):
            raise ExpressionError(message or f"expected {opening!r}")
        self.i += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"the value nests brackets more than {MAX_DEPTH} deep")
        value = self.expr()
        self.expect(_OPEN[opening])
        self.depth -= 1
        return value


def _constant(value: Fraction) -> Poly:
    return {(0, 0): value} if value else {}


def _checked(poly: Poly) -> Poly:
    if len(poly) > MAX_TERMS:
        raise ExpressionError(f"the value expands to more than {MAX_TERMS} terms")
    for (p, l), c in poly.items():
        if abs(p) > MAX_DEGREE or abs(l) > MAX_DEGREE:
            raise ExpressionError(f"the value has a power of P or L beyond {MAX_DEGREE}")
        if c.numerator.bit_length() > MAX_COEFFICIENT_BITS or c.denominator.bit_length() > MAX_COEFFICIENT_BITS:
            raise ExpressionError("the value has an absurdly large number in it")
    return poly


def _add(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for m, c in b.items():
        total = out.get(m, 0) + c
        if total:
            out[m] = total
        else:
            out.pop(m, None)
    return _checked(out)


def _neg(a: Poly) -> Poly:
    return {m: -c for m, c in a.items()}


def _mul(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for (p1, l1), c1 in a.items():
        for (p2, l2), c2 in b.items():
            m = (p1 + p2, l1 + l2)
            total = out.get(m, 0) + c1 * c2
            if total:
                out[m] = total
            else:
                out.pop(m, None)
    return _checked(out)


def _div(a: Poly, b: Poly) -> Poly:
    if not b:
        raise ExpressionError("division by zero")
    if len(b) != 1:
        raise ExpressionError("division by a sum is not supported; divide by a single term like 4, L or 2PL")
    ((p, l), c), = b.items()
    return _checked({(p1 - p, l1 - l): c1 / c for (p1, l1), c1 in a.items()})
