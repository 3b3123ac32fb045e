"""Sandbox provisioning for environments: who owns the backend, the warm pool and each episode's session.

An env that declares `sandbox_requirements` never builds a backend itself. Whoever runs it (the runner, the
collector, the trainer) owns a `SandboxProviders`: one `SandboxProvider` per requirements set, each choosing
its backend once and keeping a warm pool. The env gets a fresh session per episode (`acquire`) and a second
fresh session for grading; both are destroyed when released, never reused. A bare `verigym.make(...)` env
falls back to `default_providers()`, so `reset()`/`step()` work in a notebook with no runner.

    providers = SandboxProviders(SandboxSettings(backend="auto", pool_size=8))
    env.use_sandboxes(providers)      # the collector does this for every env it builds
    ...
    providers.close()                 # destroys every pooled session
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from verigym.sandbox.choose import BackendChoice, backend_names, make_backend
from verigym.sandbox.errors import SandboxError
from verigym.sandbox.pool import WarmPool
from verigym.sandbox.records import Limits, Requirements
from verigym.sandbox.session import Session

BACKEND_ENV = "VERIGYM_SANDBOX"  # the backend bare envs use (default: auto)


@dataclass(frozen=True)
class SandboxSettings:
    """The declared sandbox setting of a run (`--sandbox`, the trainer's `[sandbox]` table).

    `backend` is `auto`, `local`, `docker` or any backend a plugin registers. `pool_size` is how many fresh
    sessions each provider keeps ready (default: the run's concurrency, at least 1).
    """

    backend: str = "auto"
    pool_size: int | None = None
    acquire_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.pool_size is not None and self.pool_size < 1:
            raise ValueError(f"sandbox pool_size must be >= 1, got {self.pool_size}")
        if self.acquire_timeout_s <= 0:
            raise ValueError(f"sandbox acquire_timeout_s must be positive, got {self.acquire_timeout_s}")

    @classmethod
    def from_env(cls) -> SandboxSettings:
        """Settings for bare envs: the backend named by $VERIGYM_SANDBOX, else `auto`."""
        return cls(backend=os.environ.get(BACKEND_ENV, "auto") or "auto", pool_size=1)


class SandboxProvider:
    """Fresh sessions for one (requirements, limits) pair from a backend chosen once, through a warm pool."""

    def __init__(self, requirements: Requirements, limits: Limits, settings: SandboxSettings, pool_size: int) -> None:
        self.requirements, self.limits, self.settings = requirements, limits, settings
        self.backend = make_backend(settings.backend, limits=limits, requirements=requirements)
        self.choice: BackendChoice = self.backend.choice
        isolation = getattr(self.backend, "isolation", None)
        self.isolation = isolation.describe() if isolation is not None else None
        self.pool = WarmPool(self._open, size=pool_size)
        self._lock = threading.Lock()
        self._out: set[Session] = set()
        self.created = 0
        self.released = 0

    def _open(self) -> Session:
        return self.backend.open(self.limits, self.requirements)

    def acquire(self) -> Session:
        """A fresh session (from the warm pool when one is ready). Raises `SandboxError` when none can start."""
        try:
            session = self.pool.acquire(timeout=self.settings.acquire_timeout_s)
        except TimeoutError as exc:
            raise SandboxError(f"no {self.choice.backend} sandbox could be started: {exc}") from exc
        with self._lock:
            self._out.add(session)
            self.created += 1
        return session

    def release(self, session: Session) -> None:
        """Destroy `session` (in the background); it is never handed out again."""
        with self._lock:
            if session not in self._out:
                return
            self._out.discard(session)
            self.released += 1
        self.pool.release(session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A fresh session for the duration of a `with` block (e.g. grading), destroyed afterwards."""
        session = self.acquire()
        try:
            yield session
        finally:
            self.release(session)

    def outstanding(self) -> int:
        """Sessions handed out and not yet released."""
        with self._lock:
            return len(self._out)

    def metadata(self) -> dict[str, Any]:
        """What run summaries and episode records say about the sandbox in force."""
        return {**self.choice.as_metadata(), "isolation": self.isolation}

    def close(self) -> None:
        """Destroy every session, pooled or still handed out, and the backend's resources."""
        with self._lock:
            out, self._out = list(self._out), set()
        for session in out:
            session.close()
        self.pool.close()
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


class SandboxProviders:
    """The providers of one run, keyed by (requirements, limits): the backend is chosen once per key."""

    def __init__(self, settings: SandboxSettings | None = None, pool_size: int | None = None) -> None:
        self.settings = settings or SandboxSettings()
        if self.settings.backend not in backend_names():
            raise ValueError(
                f"sandbox backend must be one of {', '.join(backend_names())}; got {self.settings.backend!r}"
            )
        self.pool_size = max(1, self.settings.pool_size or pool_size or 1)
        self._providers: dict[tuple[Requirements, Limits], SandboxProvider] = {}
        self._lock = threading.Lock()
        self._closed = False

    def provider(self, requirements: Requirements, limits: Limits | None = None) -> SandboxProvider:
        """The provider for `requirements` (created, and its backend chosen, on first use)."""
        key = (requirements, limits or Limits())
        with self._lock:
            if self._closed:
                raise SandboxError("these sandbox providers are closed")
            provider = self._providers.get(key)
            if provider is None:
                provider = SandboxProvider(requirements, key[1], self.settings, self.pool_size)
                self._providers[key] = provider
            return provider

    def outstanding(self) -> int:
        """Sessions handed out by any provider and not yet released."""
        with self._lock:
            return sum(p.outstanding() for p in self._providers.values())

    def close(self) -> None:
        """Close every provider (idempotent)."""
        with self._lock:
            self._closed = True
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            provider.close()

    def __enter__(self) -> SandboxProviders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: SandboxProviders | None = None
_default_lock = threading.Lock()


def default_providers() -> SandboxProviders:
    """The process-wide providers bare envs use (backend from $VERIGYM_SANDBOX, default `auto`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SandboxProviders(SandboxSettings.from_env())
            atexit.register(_close_default)
        return _default


def _close_default() -> None:
    global _default
    with _default_lock:
        providers, _default = _default, None
    if providers is not None:
        providers.close()
