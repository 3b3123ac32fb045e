"""Fixtures for the integration tests (helpers live in integration_helpers.py, importable from the tests)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make integration_helpers importable

from integration_helpers import cli_server  # noqa: E402
from sandbox_providers import local_providers  # noqa: E402,F401  (tests/sandbox_providers.py, on pytest's path)


@pytest.fixture(scope="session")
def beam_server() -> Iterator[str]:
    """`verigym serve beam-statics-v0` through the CLI, room for 64 sessions (and one refused beyond)."""
    with cli_server("beam-statics-v0", "--max-sessions", "64") as url:
        yield url

