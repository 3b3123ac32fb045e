"""Fixtures for code-python-v0 tests: real sandbox providers per backend (shared, session-scoped)."""

from __future__ import annotations

from sandbox_providers import docker_providers, local_providers, sandbox_providers  # noqa: F401
