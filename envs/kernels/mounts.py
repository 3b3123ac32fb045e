"""Which of the host venv's packages the grading sandbox sees, and where (read-only `HostMount`s).

The sandbox's python is the image's (or the host's /usr) python3; torch, triton and numpy come from the
project's venv, each package folder bound read-only under `SITE` and put on `sys.path` by the harness. Only
these folders become visible, never the rest of the venv or the host. The interpreter must share the venv's
`major.minor` (compiled extensions are built for it); `python_mismatch()` says when it does not.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache

from verigym.sandbox.records import MOUNT_ROOT, HostMount

SITE = MOUNT_ROOT + "py"  # the sandbox's extra sys.path entry
# what `import torch, triton` and the interpreter load, plus torch's own dependencies (torch.compile on a GPU)
PACKAGES = ("torch", "torchgen", "triton", "numpy", "typing_extensions", "sympy", "mpmath", "networkx", "jinja2",
            "markupsafe", "filelock", "fsspec")


@lru_cache(maxsize=1)
def package_mounts() -> tuple[HostMount, ...]:
    """Read-only mounts of the packages the harness imports (and their bundled `.libs` folders)."""
    mounts: list[HostMount] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(
                f"{name} is not installed on the host; install the `kernels` extra (pip install 'verigym[kernels]')",
                name=name,
            )
        locations = list(spec.submodule_search_locations or [])
        source = locations[0] if locations else spec.origin
        source = os.path.realpath(source)
        mounts.append(HostMount(source, f"{SITE}/{os.path.basename(source)}"))
        libs = os.path.join(os.path.dirname(source), f"{name}.libs")
        if os.path.isdir(libs):
            mounts.append(HostMount(os.path.realpath(libs), f"{SITE}/{name}.libs"))
    return tuple(mounts)


def python_mismatch(sandbox_version: str) -> str | None:
    """Why the sandbox's python (`X.Y.Z`) cannot load the host's packages, or None when it can."""
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if ".".join(sandbox_version.split(".")[:2]) != host:
        return f"the sandbox's python is {sandbox_version} but the host's torch/triton are built for python {host}"
    return None
