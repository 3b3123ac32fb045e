"""Backend choice, the local fallbacks (unshare, insecure), registration, images and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from verigym.plugins.registry import get_registry, make_sandbox
from verigym.sandbox import images
from verigym.sandbox.choose import choose_backend, make_backend
from verigym.sandbox.errors import SandboxUnavailableError
from verigym.sandbox.local import LocalBackend
from verigym.sandbox.records import Requirements, Status

pytestmark = pytest.mark.timeout(120)


def test_backends_are_registered_through_the_plugin_hook():
    entries = get_registry().sandboxes.entries
    assert {"local", "docker", "auto"} <= set(entries)
    assert entries["local"].plugin == "builtin-sandboxes"
    backend = make_sandbox("local")
    assert backend.isolation.backend == "local"


def test_auto_prefers_docker_when_engine_and_image_exist(docker_backend):
    choice = choose_backend("auto")
    assert choice.backend == "docker" and "answers" in choice.reason
    backend = make_backend("auto")
    assert backend.choice == choice and backend.isolation.backend == "docker"


def test_auto_falls_back_to_local_with_a_reason(monkeypatch, local_backend):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    choice = choose_backend("auto")
    assert choice.backend == "local" and "Docker not usable" in choice.reason
    assert choice.as_metadata()["backend"] == "local"
    with pytest.raises(ValueError, match="sandbox backend must be one of auto, docker, local"):
        choose_backend("podman")


def test_unshare_fallback_isolates_network_and_processes(host_state, limits):
    try:
        backend = LocalBackend(limits, isolation="unshare")
    except SandboxUnavailableError as exc:
        pytest.skip(str(exc))
    assert backend.isolation.mechanism == "unshare" and backend.isolation.missing
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with backend.open() as sandbox:
            code = f"import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), 2); print('CONNECTED')\nexcept OSError: print('failed')"
            assert sandbox.exec(["python3", "-c", code]).stdout == "failed\n"
            assert sandbox.exec("id -u").stdout.strip() != "0"
            timed = sandbox.exec("setsid sh -c 'sleep 77.7 &'; while :; do :; done", timeout=1)
            assert timed.status is Status.TIMEOUT
            assert "77.7" not in sandbox.exec("ps -eo args 2>/dev/null || cat /proc/[0-9]*/cmdline").stdout
            sandbox.write_file("f.txt", "x")
            assert sandbox.read_file("f.txt") == b"x"
    finally:
        listener.close()


def test_insecure_backend_must_be_allowed_explicitly(limits, host_state):
    with pytest.raises(SandboxUnavailableError, match="allow_insecure"):
        LocalBackend(limits, isolation="none", allow_insecure=False)
    backend = LocalBackend(limits, isolation="none", allow_insecure=True)
    assert not backend.isolation.secure and "namespaces" in backend.isolation.missing
    with backend.open() as sandbox:
        assert sandbox.exec("echo $HOME").stdout.strip().startswith("/tmp/verigym-sbx-")


def test_recipes_hash_and_mirror():
    recipes = images.load_recipes()
    assert {"base", "rtl", "sql"} <= set(recipes)
    assert recipes["rtl"].parent == "base" and "iverilog" in recipes["rtl"].tools
    assert images.image_tag("base") == images.image_tag("base")
    assert images.recipe_hash("rtl") != images.recipe_hash("sql")
    assert images.apt_mirror().startswith(("http://", "https://"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verigym", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_cli_doctor_reports_backend_and_isolation(local_backend):
    done = _cli("doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "bubblewrap" in report["local"]["isolation"]
    assert report["auto"]["backend"] in ("local", "docker") and report["auto"]["reason"]
    text = _cli("doctor")
    assert "auto" in text.stdout and "docker engine" in text.stdout


def test_cli_build_skips_existing_images(docker_backend):
    done = _cli("build", "base")
    assert done.returncode == 0 and "exists" in done.stdout, done.stdout + done.stderr


def test_tool_requirements_follow_the_env_declaration(local_backend):
    requirements = Requirements(image="rtl", tools=("python3",))
    with local_backend.open(requirements=requirements) as sandbox:
        assert sandbox.exec("true").ok


def test_docker_host_config_is_hardened_and_gpu_optional(docker_backend, limits):
    plain = docker_backend._host_config(limits, gpus=False)
    assert plain["NetworkMode"] == "none" and plain["ReadonlyRootfs"] and plain["Init"]
    assert plain["CapDrop"] == ["ALL"] and "no-new-privileges:true" in plain["SecurityOpt"]
    assert plain["Memory"] == plain["MemorySwap"] == limits.memory_bytes and plain["PidsLimit"] == limits.pids
    assert not plain.get("DeviceRequests")
    gpu = docker_backend._host_config(limits, gpus=True)
    assert gpu["DeviceRequests"][0]["Capabilities"] == [["gpu"]] and gpu["DeviceRequests"][0]["Count"] == -1
