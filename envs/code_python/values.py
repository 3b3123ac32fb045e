"""Plain, typed wire data between the host and the grading harness, and the host's strict comparison.

A value crosses the sandbox boundary as tagged JSON: `["n"]`, `["b", true]`, `["i", "12"]` (ints as decimal
text), `["f", float.hex()]` (so NaN and infinities are explicit), `["s", "..."]`, `["l", [...]]`,
`["t", [...]]` and `["d", [[key, value], ...]]` (str keys only). The child in the sandbox encodes only values
whose type is exactly one of these, so an object whose `__eq__` is always True or a lying `str` subclass
never crosses; the host decodes strictly (`WireError` on anything else) and compares with `same`, which
demands the same type (bool is not int, int is not float unless the task allows it, list is not tuple).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 100
MAX_INT_DIGITS = 4000


class WireError(ValueError):
    """Data that is not well-formed wire data."""


def encode(value: Any, depth: int = 0) -> list[Any]:
    """`value` as wire data (host side: test arguments and expected values)."""
    if depth > MAX_DEPTH:
        raise WireError("nesting deeper than 100 levels")
    t = type(value)
    if value is None:
        return ["n"]
    if t is bool:
        return ["b", value]
    if t is int:
        return ["i", str(value)]
    if t is float:
        return ["f", value.hex()]
    if t is str:
        return ["s", value]
    if t is list:
        return ["l", [encode(v, depth + 1) for v in value]]
    if t is tuple:
        return ["t", [encode(v, depth + 1) for v in value]]
    if t is dict:
        if any(type(k) is not str for k in value):
            raise WireError("dict keys must be str")
        return ["d", [[k, encode(v, depth + 1)] for k, v in value.items()]]
    raise WireError(f"a value of type {t.__name__} cannot cross the wire")


def decode(wire: Any, depth: int = 0) -> Any:
    """Strictly decode wire data into a plain Python value; `WireError` on anything malformed."""
    if depth > MAX_DEPTH + 1:
        raise WireError("nesting too deep")
    if type(wire) is not list or not wire or type(wire[0]) is not str:
        raise WireError(f"malformed wire value {str(wire)[:60]}")
    tag = wire[0]
    if tag == "n":
        if len(wire) != 1:
            raise WireError("malformed None")
        return None
    if len(wire) != 2:
        raise WireError(f"malformed wire value with tag {tag!r}")
    body = wire[1]
    if tag == "b":
        if type(body) is not bool:
            raise WireError("malformed bool")
        return body
    if tag in ("i", "f", "s") and type(body) is not str:
        raise WireError(f"malformed scalar with tag {tag!r}")
    if tag == "i":
        text = body[1:] if body.startswith("-") else body
        if not text.isdigit() or not text.isascii() or len(text) > MAX_INT_DIGITS or (len(text) > 1 and text[0] == "0"):
            raise WireError(f"malformed int {body[:40]!r}")
        return int(body)
    if tag == "f":
        try:
            return float.fromhex(body)
        except (ValueError, OverflowError):
            raise WireError(f"malformed float {body[:40]!r}") from None
    if tag == "s":
        return body
    if tag in ("l", "t"):
        if type(body) is not list:
            raise WireError("malformed sequence")
        items = [decode(v, depth + 1) for v in body]
        return items if tag == "l" else tuple(items)
    if tag == "d":
        if type(body) is not list:
            raise WireError("malformed dict")
        out: dict[str, Any] = {}
        for item in body:
            if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
                raise WireError("malformed dict item")
            if item[0] in out:
                raise WireError(f"duplicate dict key {item[0][:40]!r}")
            out[item[0]] = decode(item[1], depth + 1)
        return out
    raise WireError(f"unknown wire tag {tag[:10]!r}")


def dumps(value: Any) -> str:
    """`value` as compact wire JSON text (what task records store)."""
    return json.dumps(encode(value), separators=(",", ":"))


def loads(text: str) -> Any:
    """Inverse of `dumps` (strict)."""
    return decode(json.loads(text))


def same(expected: Any, got: Any, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9, numeric_ok: bool = False) -> bool:
    """Strictly typed equality: same type at every level, floats within tolerance (NaN equals only NaN)."""
    te, tg = type(expected), type(got)
    if numeric_ok and te in (int, float) and tg in (int, float):
        return _close(float(expected), float(got), rel_tol, abs_tol)
    if te is not tg:
        return False
    if te is float:
        return _close(expected, got, rel_tol, abs_tol)
    if te in (list, tuple):
        return len(expected) == len(got) and all(
            same(e, g, rel_tol=rel_tol, abs_tol=abs_tol, numeric_ok=numeric_ok) for e, g in zip(expected, got)
        )
    if te is dict:
        return expected.keys() == got.keys() and all(
            same(expected[k], got[k], rel_tol=rel_tol, abs_tol=abs_tol, numeric_ok=numeric_ok) for k in expected
        )
    if te in (int, str, bool, type(None)):
        return expected == got
    raise WireError(f"cannot compare values of type {te.__name__}")


def _close(a: float, b: float, rel_tol: float, abs_tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def show(value: Any, limit: int = 200) -> str:
    """A short repr for observations."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
