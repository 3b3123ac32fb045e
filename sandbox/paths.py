"""Validation of file paths handed to a sandbox: relative to its workdir, never leaving it."""

from __future__ import annotations

from pathlib import PurePosixPath

from verigym.sandbox.errors import PathRefusedError


def check_relative(path: str) -> str:
    """Return `path` unchanged if it is a plain relative path inside the workdir, else raise PathRefusedError."""
    if not isinstance(path, str) or not path:
        raise PathRefusedError(f"sandbox path must be a non-empty string, got {path!r}")
    if "\x00" in path:
        raise PathRefusedError(f"sandbox path {path!r} contains a NUL byte")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise PathRefusedError(f"sandbox path {path!r} is absolute; give a path relative to the workdir")
    if ".." in pure.parts:
        raise PathRefusedError(f"sandbox path {path!r} contains '..'; paths may not leave the workdir")
    return path
