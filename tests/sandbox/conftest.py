"""Fixtures for the sandbox tests: real bubblewrap and a real Docker engine, skipped (with the reason) only when
the component cannot start here. `verigym sandbox setup` prepares a machine (packages, dockerd, images)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from verigym.sandbox.errors import ImageError, SandboxUnavailableError
from verigym.sandbox.records import Limits, Requirements

KiB, MiB = 1024, 1024 * 1024
NOBODY = 65534

# Small limits keep the hostile tests quick and gentle on a shared 2-core machine.
TEST_LIMITS = Limits(
    timeout_s=5.0,
    memory_bytes=256 * MiB,
    pids=64,
    output_bytes=64 * KiB,
    file_bytes=8 * MiB,
    disk_bytes=16 * MiB,
    open_files=128,
    cpus=1.0,
)


@pytest.fixture(scope="session")
def limits() -> Limits:
    return TEST_LIMITS


@pytest.fixture(scope="session")
def local_backend():
    from verigym.sandbox.local import LocalBackend

    try:
        return LocalBackend(TEST_LIMITS, isolation="bubblewrap")
    except SandboxUnavailableError as exc:
        pytest.skip(f"bubblewrap cannot start on this machine: {exc}")


@pytest.fixture(scope="session")
def docker_backend():
    from verigym.sandbox.hostsetup import docker_answers

    problem = docker_answers()
    if problem is not None:
        pytest.skip(f"no Docker engine answers ({problem}); `verigym sandbox setup` starts one")
    from verigym.sandbox.docker_backend import DockerBackend

    backend = DockerBackend(TEST_LIMITS)
    try:
        backend.image_for(Requirements())
    except ImageError as exc:
        pytest.skip(str(exc))
    yield backend
    backend.close()


@pytest.fixture(params=["local", "docker"])
def backend(request):
    """Each test using it runs once per backend."""
    return request.getfixturevalue(f"{request.param}_backend")


def _nobody_pids() -> set[int]:
    """Host processes running as uid 65534: every sandbox process (local and docker) runs as that uid."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == NOBODY:
                    pids.add(int(entry))
            except FileNotFoundError:
                continue
    return pids


def _our_containers() -> set[str]:
    from verigym.sandbox.docker_backend import LABEL, OWNER_LABEL, owner_id
    from verigym.sandbox.hostsetup import docker_answers

    if docker_answers() is not None:
        return set()
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner_id()}"})
        return {c.name for c in found if LABEL in c.labels}
    finally:
        client.close()


@dataclass
class HostState:
    """A snapshot of what sandboxes can leave behind on the host, to compare against after a test."""

    nobody_pids: set[int] = field(default_factory=_nobody_pids)
    containers: set[str] = field(default_factory=_our_containers)

    def leaks(self, wait_s: float = 5.0) -> dict[str, set]:
        """What exists now but did not at the snapshot (after up to `wait_s` for teardown to finish)."""
        deadline = time.monotonic() + wait_s
        while True:
            extra = {"processes": _nobody_pids() - self.nobody_pids, "containers": _our_containers() - self.containers}
            if not any(extra.values()) or time.monotonic() > deadline:
                return {k: v for k, v in extra.items() if v}
            time.sleep(0.1)


def describe_leaks(leaks: dict[str, set]) -> dict[str, list[str]]:
    """Leaked processes with their command lines and parents, so a failure says which sandbox it came from."""
    described = {k: sorted(map(str, v)) for k, v in leaks.items()}
    if "processes" in leaks:
        described["processes"] = [_describe_pid(pid) for pid in sorted(leaks["processes"])]
    return described


def _describe_pid(pid: int) -> str:
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
        ppid = next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("PPid:"))
        parent = open(f"/proc/{ppid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, StopIteration):
        return f"{pid} (gone)"
    return f"{pid} {cmdline!r} (parent {ppid} {parent!r})"


@pytest.fixture
def host_state():
    """Fails the test if sandbox processes or containers outlive it."""
    state = HostState()
    yield state
    leaks = state.leaks()
    assert not leaks, f"sandboxes leaked on the host: {describe_leaks(leaks)}"


@pytest.fixture
def sandbox(backend, host_state):
    session = backend.open()
    yield session
    session.close()


def host_cmdlines() -> list[str]:
    out = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(path.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return out


@pytest.fixture
def cmdlines():
    """A function listing every host process's command line."""
    return host_cmdlines


def pytest_collection_modifyitems(items):
    """Mark every test that needs the Docker engine with `docker` (so `-m "not docker"` deselects them)."""
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        param = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
        if "docker_backend" in item.fixturenames or param == "docker":
            item.add_marker(pytest.mark.docker)
