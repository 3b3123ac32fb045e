"""Reading the agent's reactions: the `<answer>` text and the `check` tool's arguments.

Both must name every unknown of the task exactly once, each with an exact value of the right kind:
forces as multiples of P, moments as multiples of P*L. Any problem becomes an `AnswerError` whose
message lists everything wrong, meant to be shown to the agent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from verigym.envs.beam_statics.expression import ExpressionError, monomial_coefficient, parse_expression
from verigym.envs.beam_statics.task import is_moment

MAX_ANSWER_CHARS = 2_000
FORCE, MOMENT = (1, 0), (1, 1)

_NAME = re.compile(r"^([A-Za-z])\s*_\s*(?:\{\s*([A-Za-z0-9]+)\s*\}|([A-Za-z0-9]+))$")
_BOXED_START = re.compile(r"\\boxed\s*\{")
_STRIPPED = re.compile(r"\$|&|\\\(|\\\)|\\\[|\\\]")


class AnswerError(ValueError):
    """The reactions could not be read; the message says exactly what to fix."""


def parse_answer(text: str, unknowns: Sequence[str]) -> dict[str, Fraction]:
    """Read `NAME = VALUE` pairs (separated by commas, semicolons or new lines) into exact coefficients.

    Returns {unknown: coefficient of P (forces) or of P*L (moments)}; raises AnswerError.
    """
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"the answer is {len(text)} characters long; the limit is {MAX_ANSWER_CHARS}. {_hint(unknowns)}")
    cleaned = _STRIPPED.sub("", text.replace("\\\\", "\n")).strip()
    if not cleaned:
        raise AnswerError(f"the answer is empty. {_hint(unknowns)}")
    cleaned = _unbox_assignment(cleaned)
    problems: list[str] = []
    raw: dict[str, list[str]] = {}
    for part in _split_top_level(cleaned):
        part = _unbox_assignment(part)
        if part.count("=") != 1:
            what = "has no '='" if "=" not in part else "has more than one '='"
            problems.append(f"{_clip(part)!r} {what}; write one NAME = VALUE per unknown")
            continue
        left, right = (s.strip() for s in part.split("="))
        name = normalize_name(left)
        if name is None or name not in unknowns:
            problems.append(f"{_clip(left)!r} is not one of the unknowns {list(unknowns)}")
            continue
        raw.setdefault(name, []).append(right)
    values = _read_values(raw, unknowns, problems)
    if problems:
        raise AnswerError("; ".join(problems) + f". {_hint(unknowns)}")
    return values


def parse_check_arguments(arguments: Mapping[str, Any], unknowns: Sequence[str]) -> dict[str, Fraction]:
    """Read the `check` tool's {unknown: value} arguments (values as strings or JSON numbers)."""
    problems: list[str] = []
    raw: dict[str, list[str]] = {}
    for key, value in arguments.items():
        name = normalize_name(key) if isinstance(key, str) else None
        if name is None or name not in unknowns:
            problems.append(f"argument {key!r} is not one of the unknowns {list(unknowns)}")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(f"{key}: the value must be a string such as \"3P/4\", got {type(value).__name__}")
        else:
            raw.setdefault(name, []).append(value if isinstance(value, str) else repr(value))
    values = _read_values(raw, unknowns, problems)
    if problems:
        example = ", ".join(f'"{u}": "..."' for u in unknowns)
        raise AnswerError("; ".join(problems) + f". Call check with arguments {{{example}}}")
    return values


def normalize_name(text: str) -> str | None:
    """`R_A`, `R_{A}`, `$R_A$` -> `R_A`; None if `text` is not a subscripted name."""
    match = _NAME.match(_STRIPPED.sub("", text).strip())
    if match is None:
        return None
    return f"{match.group(1)}_{match.group(2) or match.group(3)}"


def _read_values(raw: dict[str, list[str]], unknowns: Sequence[str], problems: list[str]) -> dict[str, Fraction]:
    values: dict[str, Fraction] = {}
    for name in unknowns:
        given = raw.get(name, [])
        if not given:
            problems.append(f"{name} is missing")
            continue
        if len(given) > 1:
            problems.append(f"{name} is given {len(given)} times; give each unknown exactly once")
            continue
        try:
            poly = parse_expression(_STRIPPED.sub("", given[0]))
        except ExpressionError as exc:
            problems.append(f"{name}: {exc}")
            continue
        moment = is_moment(name)
        coefficient = monomial_coefficient(poly, MOMENT if moment else FORCE)
        if coefficient is None:
            unit = "a moment: a multiple of P*L, e.g. 5PL/2" if moment else "a force: a multiple of P, e.g. 3P/4"
            problems.append(f"{name} is {unit}; {_clip(given[0])!r} is not")
            continue
        values[name] = coefficient
    return values


def _unbox_assignment(text: str) -> str:
    """`\\boxed{R_A = 3P/4}` -> `R_A = 3P/4` when one box wraps all of `text` and holds an '='."""
    match = _BOXED_START.match(text)
    if match is None or not text.endswith("}") or "=" not in text:
        return text
    depth = 0
    for i in range(match.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[match.end() : -1].strip() if i == len(text) - 1 else text
    return text


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        if depth <= 0 and char in ",;\n":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _hint(unknowns: Sequence[str]) -> str:
    example = ", ".join(f"{u} = ..." for u in unknowns)
    return f"Write every unknown exactly once, e.g. <answer>{example}</answer>"
