"""Task data: frozen dataclasses that round-trip through a JSON-able dict and a Parquet row."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Task:
    """Base of every family's task record: data only, no behaviour.

    Subclasses add frozen fields of JSON-able types (str, int, float, bool, Fraction, tuples, nested frozen
    dataclasses, dicts with str keys). `task_id` is unique within a family and stable for a given seed.
    """

    task_id: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that `from_dict` turns back into an equal task."""
        return _encode(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild a task from `to_dict` output; unknown or missing fields raise ValueError."""
        return _decode(cls, data)

    def to_json(self) -> str:
        """The task as a compact, key-sorted JSON string (the Parquet `task_json` column)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))  # type: ignore[attr-defined]


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"task field value {value!r} of type {type(value).__name__} is not serialisable")


def _decode(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping for {tp.__name__}, got {type(data).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fields for {tp.__name__}: {sorted(unknown)}")
        return tp(**{k: _decode(hints[k], v) for k, v in data.items()})
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, data)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{data!r} matches none of {args}")
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        return tuple(_decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [_decode(arg, v) for v in data]
    if origin is dict:
        _, val = typing.get_args(tp)
        return {k: _decode(val, v) for k, v in data.items()}
    if tp is Fraction:
        return Fraction(data)
    if tp is float and isinstance(data, int):
        return float(data)
    if isinstance(tp, type) and not isinstance(data, tp):
        raise ValueError(f"expected {tp.__name__}, got {data!r}")
    return data
