"""Shared pytest fixtures for sandbox-backed env families: real providers per backend, one per session.

In a family's `tests/conftest.py`:

    from sandbox_providers import sandbox_providers, local_providers, docker_providers  # noqa: F401

then take `sandbox_providers` (parametrised over local and docker) and call `env.use_sandboxes(providers)`.
The docker variant skips, with the reason printed, only when no Docker engine answers or the family's image
is not built (`verigym sandbox setup` does both); CI runs the setup first, so there it always runs.
"""

from __future__ import annotations

import pytest

from verigym.sandbox.provider import SandboxProviders, SandboxSettings

POOL_SIZE = 2


def _providers(backend: str):
    from verigym.sandbox.errors import SandboxUnavailableError

    if backend == "docker":
        from verigym.sandbox.hostsetup import docker_answers

        problem = docker_answers()
        if problem is not None:
            pytest.skip(f"no Docker engine answers ({problem}); `verigym sandbox setup` starts one")
    try:
        return SandboxProviders(SandboxSettings(backend=backend, pool_size=POOL_SIZE))
    except SandboxUnavailableError as exc:
        pytest.skip(f"the {backend} sandbox cannot start here: {exc}")


@pytest.fixture(scope="session")
def local_providers():
    providers = _providers("local")
    yield providers
    providers.close()


@pytest.fixture(scope="session")
def docker_providers():
    providers = _providers("docker")
    yield providers
    providers.close()


@pytest.fixture(scope="session", params=["local", "docker"])
def sandbox_providers(request):
    """Providers for each backend in turn (tests using it run once per backend)."""
    return request.getfixturevalue(f"{request.param}_providers")
