"""Backend choice: `auto` uses Docker when an engine answers and the image exists, else the local backend.

Any backend a plugin registers (`verigym_sandboxes` hook) can be named explicitly; `auto` only ever picks
between the two built-ins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from verigym.sandbox.errors import ImageError, SandboxUnavailableError
from verigym.sandbox.records import Limits, Requirements

BUILTIN_BACKENDS = ("auto", "local", "docker")


def backend_names() -> list[str]:
    """Every backend name that can be requested: the built-ins and any a plugin registers."""
    from verigym.plugins.registry import get_registry

    return sorted(set(BUILTIN_BACKENDS) | set(get_registry().sandboxes.names()))


@dataclass(frozen=True)
class BackendChoice:
    """Which backend `auto` (or an explicit name) resolves to on this machine, and why."""

    requested: str
    backend: str
    reason: str

    def as_metadata(self) -> dict[str, str]:
        return asdict(self)


def docker_status(image: str = "base") -> tuple[bool, str]:
    """(usable, why): whether a Docker engine answers and the image `image` is built."""
    from verigym.sandbox.images import docker_client, image_exists, image_tag

    try:
        client = docker_client(timeout=5)
    except ImageError as exc:
        return False, str(exc)
    try:
        tag = image_tag(image)
        if not image_exists(client, tag):
            return False, f"Docker engine answers but image {tag} is not built (`verigym sandbox build {image}`)"
        return True, f"Docker engine answers and image {tag} exists"
    finally:
        client.close()


def choose_backend(requested: str = "auto", requirements: Requirements | None = None) -> BackendChoice:
    """Resolve `requested` (auto | local | docker) to a backend name, with the reason."""
    if requested not in BUILTIN_BACKENDS and requested not in backend_names():
        raise ValueError(
            f"sandbox backend must be one of {', '.join(backend_names())} (see `verigym list`); got {requested!r}"
        )
    image = (requirements or Requirements()).image
    if requested != "auto":
        return BackendChoice(requested, requested, "requested explicitly")
    usable, why = docker_status(image)
    if usable:
        return BackendChoice("auto", "docker", why)
    return BackendChoice("auto", "local", f"Docker not usable: {why}")


def make_backend(
    name: str = "auto", limits: Limits | None = None, requirements: Requirements | None = None, **kwargs: Any
) -> Any:
    """A ready backend (`auto`, `local`, `docker` or a plugin's); its `.choice` says what was chosen and why."""
    choice = choose_backend(name, requirements)
    if choice.backend not in BUILTIN_BACKENDS:
        from verigym.plugins.registry import make_sandbox

        backend: Any = make_sandbox(choice.backend, limits=limits, **kwargs)
    elif choice.backend == "docker":
        from verigym.sandbox.docker_backend import DockerBackend

        backend = DockerBackend(limits=limits, **kwargs)
    else:
        from verigym.sandbox.local import LocalBackend

        backend = LocalBackend(limits=limits, **kwargs)
    backend.choice = choice
    return backend


def backend_summary(name: str = "auto", requirements: Requirements | None = None) -> dict[str, Any]:
    """What a run summary / episode metadata should record about the sandbox in force."""
    choice = choose_backend(name, requirements)
    summary: dict[str, Any] = choice.as_metadata()
    extra = {"reap": False} if choice.backend == "docker" else {}  # describing must not change anything
    try:
        backend = make_backend(choice.backend, requirements=requirements, **extra)
    except SandboxUnavailableError as exc:
        summary.update(isolation=None, secure=False, error=str(exc))
        return summary
    summary.update(
        isolation=backend.isolation.describe(), mechanism=backend.isolation.mechanism, secure=backend.isolation.secure
    )
    backend.close()
    return summary
