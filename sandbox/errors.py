"""Errors the sandbox layer raises; each message says what failed and what to do."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """Base class: the sandbox itself failed (not the code run inside it)."""


class SandboxUnavailableError(SandboxError):
    """No backend with the requested isolation can start on this machine."""


class SessionClosedError(SandboxError):
    """The session was closed (or killed after a missed deadline) and cannot run anything more."""


class PathRefusedError(SandboxError, ValueError):
    """A file path that is absolute, contains `..`, or otherwise leaves the workdir."""


class MissingToolError(SandboxError):
    """A tool an environment declared it needs is not present in the sandbox."""


class ImageError(SandboxError):
    """A sandbox image is missing or could not be built."""
