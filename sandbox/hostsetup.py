"""Preparing a machine for the sandboxes and the envs' host tools: Debian packages (bubblewrap, debootstrap,
docker.io; iverilog and yosys for the RTL env on the local backend; chromium for the web envs' browser
mode), dockerd, images."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

DOCKERD_LOG = Path("/var/log/verigym-dockerd.log")
PACKAGES = {
    "bwrap": "bubblewrap",
    "debootstrap": "debootstrap",
    "dockerd": "docker.io",
    "iverilog": "iverilog",
    "yosys": "yosys",
    "chromium": "chromium",
}


def missing_packages() -> list[str]:
    """Debian packages whose command is not on PATH."""
    return [package for command, package in PACKAGES.items() if shutil.which(command) is None]


def install_packages(log: Callable[[str], None]) -> bool:
    """apt-get install the missing packages (root only); True when nothing is missing afterwards."""
    missing = missing_packages()
    if not missing:
        log(f"packages: {', '.join(PACKAGES.values())} are installed")
        return True
    if os.geteuid() != 0:
        log(
            f"packages: missing {', '.join(missing)}; not root, so not installing (sudo apt-get install {' '.join(missing)})"
        )
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"packages: apt-get install {' '.join(missing)}")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            log(f"packages: `{' '.join(argv)}` failed ({done.returncode}): {(done.stdout + done.stderr)[-1500:]}")
            return False
    return not missing_packages()


def docker_answers(timeout: int = 5) -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install 'verigym[docker]')"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        client.close()
    except docker.errors.DockerException as exc:
        return str(exc)
    return None


def ensure_dockerd(log: Callable[[str], None], wait_s: float = 60.0) -> bool:
    """Start `dockerd` in the background (root, when no engine answers) and wait until it answers."""
    problem = docker_answers()
    if problem is None:
        log("docker: engine answers")
        return True
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        log(f"docker: no engine answers ({problem}) and dockerd cannot be started here (needs root and docker.io)")
        return False
    log(f"docker: starting dockerd (log: {DOCKERD_LOG})")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(DOCKERD_LOG, "ab") as out:
        subprocess.Popen(
            ["dockerd"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        problem = docker_answers()
        if problem is None:
            log("docker: engine answers")
            return True
    tail = DOCKERD_LOG.read_text(errors="replace")[-1500:]
    log(f"docker: dockerd did not answer within {wait_s:.0f} s ({problem}); log tail:\n{tail}")
    return False
