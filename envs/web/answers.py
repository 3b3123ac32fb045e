"""Typed answer normalisation: numbers, money, dates and name lists compared by value, never by substring.

Each parser finds every value of its type in the answer; an answer with zero or several distinct values
is wrong (so listing every candidate never scores).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

ANSWER_TYPES = ("number", "money", "date", "names")
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_MONEY = re.compile(r"(?<![\w.])(?:US\$|\$|USD\s?)?\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?(?:\s?(?:USD|dollars))?(?![\w])", re.I)
_MONTHS = {m.lower(): i + 1 for i, m in enumerate(
    "January February March April May June July August September October November December".split())}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)"), ("y", "m", "d")),
    (re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)", re.I), ("M", "d", "y")),
    (re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(\d{4})(?!\d)", re.I), ("d", "M", "y")),
)


def parse_number(text: str) -> Decimal | None:
    """The one number in `text` (digits or a word up to twenty), else None."""
    values = {Decimal(m.group(0).replace(",", "")) for m in _NUMBER.finditer(text)}
    values |= {Decimal(_WORDS[w]) for w in re.findall(r"[a-z]+", text.lower()) if w in _WORDS}
    return values.pop() if len(values) == 1 else None


def parse_money(text: str) -> Decimal | None:
    """The one amount in `text`, in dollars with cents (`$1,234.5` -> 1234.50), else None."""
    values = set()
    for m in _MONEY.finditer(text):
        try:
            values.add(Decimal(m.group(1).replace(",", "") + (m.group(2) or "")).quantize(Decimal("0.01")))
        except InvalidOperation:
            return None
    return values.pop() if len(values) == 1 else None


def parse_date(text: str) -> dt.date | None:
    """The one calendar date in `text` (ISO `2024-03-05`, `March 5, 2024`, `5 March 2024`), else None."""
    values = set()
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups()))
            month = _MONTHS[parts["M"].lower().rstrip(".")] if "M" in parts else int(parts["m"])
            try:
                values.add(dt.date(int(parts["y"]), month, int(parts["d"])))
            except ValueError:
                return None
    return values.pop() if len(values) == 1 else None


def normalise_name(name: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return " ".join(folded.replace("@", " ").strip(" .'\"").split())


def parse_names(text: str) -> frozenset[str]:
    """The set of names listed in `text` (separated by commas, semicolons, new lines or "and")."""
    parts = re.split(r"[,;\n]|\band\b|&", text)
    return frozenset(n for n in (normalise_name(p) for p in parts) if n)


def answer_matches(kind: str, answer: str, gold: tuple[str, ...]) -> bool:
    """Whether `answer` equals the gold value(s) of type `kind` after normalisation."""
    if kind == "number":
        return parse_number(answer) == Decimal(gold[0])
    if kind == "money":
        return parse_money(answer) == Decimal(gold[0]).quantize(Decimal("0.01"))
    if kind == "date":
        return parse_date(answer) == dt.date.fromisoformat(gold[0])
    if kind == "names":
        return parse_names(answer) == frozenset(normalise_name(g) for g in gold)
    raise ValueError(f"unknown answer type {kind!r}; expected one of {ANSWER_TYPES}")
