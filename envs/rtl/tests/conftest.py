"""Fixtures for rtl-verilog-v0 tests: real sandbox providers per backend (local and docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox_providers import docker_providers, local_providers, sandbox_providers  # noqa: F401

PROBLEMS = Path(__file__).parent / "data" / "verilogeval"


@pytest.fixture(scope="session")
def problems_dir() -> str:
    """A folder of VerilogEval-format problems written for these tests."""
    return str(PROBLEMS)


@pytest.fixture
def make_env(sandbox_providers):  # noqa: F811
    """Build RtlEnv instances on the current backend; every one is closed after the test."""
    from verigym.envs.rtl.env import RtlEnv

    envs = []

    def make(**overrides):
        env = RtlEnv(**overrides)
        env.use_sandboxes(sandbox_providers)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()
