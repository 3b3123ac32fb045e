"""Sandboxes for agent actions: one session per episode, a local (bubblewrap) and a Docker backend, a warm pool.

from verigym.sandbox import make_backend, Limits
backend = make_backend("auto")            # backend.choice says which and why
with backend.open(Limits(timeout_s=5)) as sandbox:
    sandbox.write_file("main.py", "print(input())")
    result = sandbox.exec("python3 main.py", stdin="hi")   # ExecResult(status=ok, stdout='hi\\n', ...)
"""

from verigym.sandbox.choose import BackendChoice, backend_summary, choose_backend, make_backend
from verigym.sandbox.errors import (
    ImageError,
    MissingToolError,
    PathRefusedError,
    SandboxError,
    SandboxUnavailableError,
    SessionClosedError,
)
from verigym.sandbox.pool import WarmPool
from verigym.sandbox.provider import SandboxProvider, SandboxProviders, SandboxSettings, default_providers
from verigym.sandbox.records import ExecResult, HostMount, Isolation, Limits, Requirements, Status
from verigym.sandbox.session import Session

__all__ = [
    "BackendChoice",
    "ExecResult",
    "ImageError",
    "Isolation",
    "Limits",
    "MissingToolError",
    "PathRefusedError",
    "HostMount",
    "Requirements",
    "SandboxError",
    "SandboxProvider",
    "SandboxProviders",
    "SandboxSettings",
    "SandboxUnavailableError",
    "Session",
    "SessionClosedError",
    "Status",
    "WarmPool",
    "backend_summary",
    "choose_backend",
    "default_providers",
    "make_backend",
]
