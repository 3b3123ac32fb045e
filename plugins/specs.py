"""What plugins register: small frozen records naming a factory by import path or callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Turn `"package.module:attr"` into the object it names (callables pass through)."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry point {target!r} must look like 'package.module:attr'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class EnvSpec:
    """An environment id (`family-v0`) and the env class or factory that builds it."""

    id: str
    entry_point: str | Callable[..., Any]
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)

    def build(self, **kwargs: Any) -> Any:
        """Instantiate the env with `defaults` overridden by `kwargs`."""
        return resolve(self.entry_point)(**{**self.defaults, **kwargs})


@dataclass(frozen=True)
class SandboxSpec:
    """A sandbox backend name and the factory that creates it."""

    name: str
    entry_point: str | Callable[..., Any]
    description: str = ""

    def build(self, **kwargs: Any) -> Any:
        return resolve(self.entry_point)(**kwargs)


@dataclass(frozen=True)
class PolicySpec:
    """A policy (agent) name and the factory that creates it."""

    name: str
    entry_point: str | Callable[..., Any]
    description: str = ""

    def build(self, **kwargs: Any) -> Any:
        return resolve(self.entry_point)(**kwargs)
