"""Name -> function tables for the trainer's pluggable algorithms (advantages, losses, aggregation, KL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class AlgorithmRegistry(Generic[F]):
    """A table of named pure functions; `register(name)` is a decorator, `get(name)` names the choices on a miss."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._table: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator adding `fn` under `name`; a second function under the same name is refused."""

        def add(fn: F) -> F:
            if name in self._table:
                raise ValueError(f"{self.kind} {name!r} is already registered ({self._table[name].__qualname__})")
            self._table[name] = fn
            return fn

        return add

    def get(self, name: str) -> F:
        """The function registered as `name`."""
        try:
            return self._table[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {self.names()}") from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table
