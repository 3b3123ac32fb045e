"""What plugins register: small frozen records naming a factory by import path or callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verigym.plugins.extras import DISTRIBUTION, MissingExtraError, distribution_of, explain_missing_module, missing


def resolve(target: str | Callable[..., Any], extra: str | None = None, what: str = "") -> Callable[..., Any]:
    """Turn `"package.module:attr"` into the object it names (callables pass through).

    A missing optional package raises `MissingExtraError` naming the verigym extra that brings it
    (`extra` when given, else the extra that lists the missing package)."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry point {target!r} must look like 'package.module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] in (DISTRIBUTION, module_name.split(".")[0]):
            raise  # a wrong import path inside the package, not a missing optional dependency
        raise _missing_extra(exc, extra, what or target) from exc
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def construct(target: str | Callable[..., Any], extra: str | None, what: str, kwargs: dict[str, Any]) -> Any:
    """Resolve `target` and call it with `kwargs`; a missing optional package (at import or inside the
    factory) raises `MissingExtraError` naming the extra."""
    factory = resolve(target, extra, what)
    try:
        return factory(**kwargs)
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] == DISTRIBUTION:
            raise
        raise _missing_extra(exc, extra, what) from exc


def _missing_extra(exc: ModuleNotFoundError, extra: str | None, what: str) -> ImportError:
    if extra is None:
        return explain_missing_module(exc, what)
    try:
        lacking = missing(extra)
    except LookupError:  # not an extra of this verigym: say what is missing as it is
        return exc
    return MissingExtraError(what, extra, lacking or [distribution_of(exc.name or "")])


@dataclass(frozen=True)
class EnvSpec:
    """An environment id (`family-v0`) and the env class or factory that builds it.

    `extra` names the verigym extra whose packages the env imports (`"sql"` -> `pip install 'verigym[sql]'`);
    `verigym list` marks the env when that extra is missing, and building it then raises `MissingExtraError`."""

    id: str
    entry_point: str | Callable[..., Any]
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    extra: str | None = None

    def build(self, **kwargs: Any) -> Any:
        """Instantiate the env with `defaults` overridden by `kwargs`."""
        return construct(self.entry_point, self.extra, f"env {self.id!r}", {**self.defaults, **kwargs})


@dataclass(frozen=True)
class SandboxSpec:
    """A sandbox backend name and the factory that creates it (`extra`: as for `EnvSpec`)."""

    name: str
    entry_point: str | Callable[..., Any]
    description: str = ""
    extra: str | None = None

    def build(self, **kwargs: Any) -> Any:
        return construct(self.entry_point, self.extra, f"sandbox backend {self.name!r}", kwargs)


@dataclass(frozen=True)
class PolicySpec:
    """A policy (agent) name and the factory that creates it (`extra`: as for `EnvSpec`)."""

    name: str
    entry_point: str | Callable[..., Any]
    description: str = ""
    extra: str | None = None

    def build(self, **kwargs: Any) -> Any:
        return construct(self.entry_point, self.extra, f"policy {self.name!r}", kwargs)
