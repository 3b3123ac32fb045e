"""Typed records of the sandbox interface: limits, results, requirements, isolation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MiB = 1024 * 1024


class Status(enum.StrEnum):
    """How a run ended."""

    OK = "ok"  # exited with code 0
    ERROR = "error"  # non-zero exit code or killed by a signal it caused itself
    TIMEOUT = "timeout"  # ran past its wall-clock (or CPU) limit and was killed
    OOM = "oom"  # ran out of its memory limit
    OUTPUT_LIMIT = "output_limit"  # wrote more than the output cap and was killed
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed; the result says nothing about the code


@dataclass(frozen=True)
class Limits:
    """Hard limits of one sandbox session (applied to every run in it)."""

    timeout_s: float = 10.0  # default wall-clock limit per run
    memory_bytes: int = 512 * MiB  # address space (local) / memory+swap cgroup (docker)
    pids: int = 64  # processes and threads at once
    output_bytes: int = 1 * MiB  # per stream (stdout, stderr); beyond it the run is killed
    file_bytes: int = 64 * MiB  # largest single file a run may write
    disk_bytes: int = 128 * MiB  # size of the workdir (and of /tmp)
    open_files: int = 256
    cpus: float = 1.0  # CPU quota (docker)
    network: bool = False

    def __post_init__(self) -> None:
        for name in (
            "timeout_s",
            "memory_bytes",
            "pids",
            "output_bytes",
            "file_bytes",
            "disk_bytes",
            "open_files",
            "cpus",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class ExecResult:
    """What one run produced. `stdout`/`stderr` are capped at `Limits.output_bytes` each."""

    status: Status
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    detail: str = ""  # why the sandbox ended the run, in words (empty for a normal exit)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def timed_out(self) -> bool:
        return self.status is Status.TIMEOUT

    @property
    def oom(self) -> bool:
        return self.status is Status.OOM

    @classmethod
    def from_wire(cls, data: dict) -> ExecResult:
        return cls(
            status=Status(data["status"]),
            exit_code=data["exit_code"],
            signal=data["signal"],
            stdout=data["stdout"],
            stderr=data["stderr"],
            stdout_truncated=data["stdout_truncated"],
            stderr_truncated=data["stderr_truncated"],
            duration_s=data["duration_s"],
            detail=data.get("detail", ""),
        )


MOUNT_ROOT = "/opt/host/"  # every host mount lands under this prefix inside the sandbox


@dataclass(frozen=True)
class HostMount:
    """One host path shown read-only inside the sandbox at `target` (under /opt/host/), e.g. a package of the
    project's venv (torch, triton) that the sandbox's python cannot otherwise import. Supported by the
    bubblewrap and docker backends; nothing else of the host becomes visible."""

    source: str  # absolute path on the host (must exist when a session opens)
    target: str  # absolute path inside the sandbox, under MOUNT_ROOT

    def __post_init__(self) -> None:
        for name in ("source", "target"):
            value = getattr(self, name)
            if not value.startswith("/") or "/../" in value + "/" or "/./" in value + "/" or "//" in value:
                raise ValueError(f"HostMount.{name} must be a normalized absolute path, got {value!r}")
        if not self.target.startswith(MOUNT_ROOT) or len(self.target) <= len(MOUNT_ROOT):
            raise ValueError(f"HostMount.target must lie under {MOUNT_ROOT}, got {self.target!r}")
        if any(c in self.source + self.target for c in ":,\n"):
            raise ValueError(f"HostMount paths may not contain ':', ',' or newlines: {self.source!r} -> {self.target!r}")


@dataclass(frozen=True)
class Requirements:
    """What an environment needs from its sandbox: an image (docker), tools that must be on PATH, GPUs, and
    host paths to show read-only inside it (`host_mounts`)."""

    image: str = "base"
    tools: tuple[str, ...] = ()
    gpus: bool = False
    host_mounts: tuple[HostMount, ...] = ()


@dataclass(frozen=True)
class Isolation:
    """Which isolation a backend provides on this machine, for logs and run metadata."""

    backend: str  # local | docker
    mechanism: str  # bubblewrap | unshare | none | docker
    secure: bool
    features: tuple[str, ...] = field(default_factory=tuple)
    missing: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        text = f"{self.backend}/{self.mechanism}: {', '.join(self.features) or 'no isolation'}"
        if self.missing:
            text += f" (NOT provided: {', '.join(self.missing)})"
        return text
