"""The wire format and the host's strictly typed comparison."""

from __future__ import annotations

import math

import pytest

from verigym.envs.code_python import values


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 10**40, 1.5, -0.0, math.inf, "", "héllo",
                                   [1, [2, "x"]], (1, 2), {"a": [None, 1.0]}, []])
def test_round_trip(value: object) -> None:
    back = values.loads(values.dumps(value))
    assert values.same(value, back) and type(back) is type(value)


def test_nan_is_explicit_and_only_equals_nan() -> None:
    nan = values.loads(values.dumps(math.nan))
    assert math.isnan(nan)
    assert values.same(math.nan, nan)
    assert not values.same(math.nan, 1.0) and not values.same(1.0, math.nan)
    assert not values.same(math.inf, 1e308)


@pytest.mark.parametrize(("expected", "got"), [
    (1, True), (True, 1), (0, False), (1, 1.0), (1.0, 1), ("1", 1), (1, "1"), ([1, 2], (1, 2)), ((1,), [1]),
    ({"a": 1}, {"a": 1, "b": 2}), ([1], [1, 1]), (None, 0), (None, ""), ("a", "A"),
])
def test_strict_types(expected: object, got: object) -> None:
    assert not values.same(expected, got)


def test_numeric_ok_relaxes_only_int_float() -> None:
    assert values.same(2, 2.0, numeric_ok=True)
    assert not values.same(1, True, numeric_ok=True)
    assert values.same(0.1 + 0.2, 0.3)


def test_objects_that_lie_cannot_be_encoded() -> None:
    class Always:
        def __eq__(self, other: object) -> bool:
            return True

    class LyingStr(str):
        def __eq__(self, other: object) -> bool:
            return True

    for bad in (Always(), LyingStr("x"), {1: "int key"}, {1, 2}, b"bytes"):
        with pytest.raises(values.WireError):
            values.encode(bad)


@pytest.mark.parametrize("wire", [
    ["i", "1.5"], ["i", "01"], ["i", 5], ["i", "١٢"], ["f", "xyz"], ["b", 1], ["n", 1], ["s"], ["x", 1],
    ["d", [["a", ["n"]], ["a", ["n"]]]], ["d", [[1, ["n"]]]], "s", [], {"i": "1"}, ["l", "abc"],
])
def test_decode_rejects_malformed_wire(wire: object) -> None:
    with pytest.raises(values.WireError):
        values.decode(wire)
