"""The session interface, identical for both backends: runs, files, persistent python, lifecycle, requirements."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time

import pytest

from verigym.sandbox.errors import ImageError, MissingToolError, PathRefusedError, SessionClosedError
from verigym.sandbox.records import ExecResult, Limits, Requirements, Status

pytestmark = pytest.mark.timeout(120)


def test_exec_result_fields(sandbox):
    result = sandbox.exec("echo out; echo err >&2; exit 3")
    assert isinstance(result, ExecResult)
    assert (result.status, result.exit_code, result.signal) == (Status.ERROR, 3, None)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert not result.stdout_truncated and not result.stderr_truncated and 0 < result.duration_s < 2
    killed = sandbox.exec("kill -TERM $$")
    assert (killed.status, killed.exit_code, killed.signal) == (Status.ERROR, None, 15)
    missing = sandbox.exec(["no-such-command-xyz"])
    assert missing.status is Status.ERROR and missing.exit_code == 127 and "no-such-command-xyz" in missing.stderr


def test_argv_stdin_env_and_cwd(sandbox):
    assert sandbox.exec(["printf", "%s|", "a b", "$HOME"]).stdout == "a b|$HOME|"
    assert sandbox.exec("cat", stdin="line1\nline2\n").stdout == "line1\nline2\n"
    assert sandbox.exec("echo $GREETING", env={"GREETING": "hi"}).stdout == "hi\n"
    sandbox.write_file("sub/dir/f.txt", "x")
    assert sandbox.exec("ls", cwd="sub/dir").stdout == "f.txt\n"
    with pytest.raises(PathRefusedError):
        sandbox.exec("ls", cwd="../")
    big = os.urandom(300_000).hex()  # larger than a pipe buffer in both directions
    assert sandbox.exec("cat", stdin=big[:60_000]).stdout == big[:60_000]


def test_state_persists_across_runs(sandbox):
    sandbox.write_file("data.bin", bytes(range(256)) * 10)
    assert sandbox.read_file("data.bin") == bytes(range(256)) * 10
    assert sandbox.exec("echo made > made.txt").ok
    assert sandbox.read_file("made.txt") == b"made\n"
    sandbox.write_file("run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
    assert sandbox.exec("./run.sh").stdout == "ran\n"
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("nope.txt")


def test_python_namespace_persists_and_resets_after_a_kill(sandbox):
    first = sandbox.run_python("import math\nx = 41")
    assert first.ok, first
    assert sandbox.run_python("print(x + 1, math.pi > 3)").stdout == "42 True\n"
    err = sandbox.run_python("1 / 0")
    assert err.status is Status.ERROR and "ZeroDivisionError" in err.stderr
    assert sandbox.run_python("print(x)").stdout == "41\n"  # an exception does not reset the namespace
    exited = sandbox.run_python("raise SystemExit(4)")
    assert exited.exit_code == 4
    slow = sandbox.run_python("while True: pass", timeout=1)
    assert slow.status is Status.TIMEOUT and "reset" in slow.detail
    after = sandbox.run_python("print('x' in globals())")
    assert after.stdout == "False\n"
    assert sandbox.run_python("print(open('/dev/stdin').read() == '')").stdout == "True\n"


def test_closed_session_refuses_work(backend, host_state):
    session = backend.open()
    with session:
        assert session.exec("true").ok
    assert session.closed
    with pytest.raises(SessionClosedError):
        session.exec("true")
    session.close()  # idempotent


def test_garbage_collected_session_is_destroyed(backend, host_state):
    session = backend.open()
    assert session.exec("true").ok
    del session
    gc.collect()
    assert not host_state.leaks(), "a dropped session must be destroyed by its finalizer"


OWNER_SCRIPT = textwrap.dedent("""
    import os, sys
    from verigym.sandbox.records import Limits
    if sys.argv[1] == "local":
        from verigym.sandbox.local import LocalBackend as B
    else:
        from verigym.sandbox.docker_backend import DockerBackend as B
    session = B(Limits()).open()
    session.exec("true")
    print("ready", flush=True)
    os._exit(0)  # a crash: no close, no finalizers
""")


def test_sandboxes_of_a_crashed_owner_are_reaped(backend, host_state):
    done = subprocess.run(
        [sys.executable, "-c", OWNER_SCRIPT, backend.name], capture_output=True, text=True, timeout=120
    )
    assert "ready" in done.stdout, done.stderr
    if backend.name == "docker":
        from verigym.sandbox.docker_backend import DockerBackend

        DockerBackend(backend.limits)  # a new backend reaps containers whose owner died
    assert not host_state.leaks(wait_s=10)


def test_missing_tool_is_a_clear_error(backend, host_state):
    with pytest.raises(MissingToolError, match="no-such-tool"):
        backend.open(requirements=Requirements(tools=("python3", "no-such-tool")))
    with backend.open(requirements=Requirements(tools=("python3", "sh"))) as session:
        assert session.exec("true").ok


def test_missing_image_names_the_build_command(docker_backend, monkeypatch):
    from verigym.sandbox import images

    monkeypatch.setattr(images, "RECIPE_FORMAT", images.RECIPE_FORMAT + 1000)  # a recipe nobody built
    with pytest.raises(ImageError, match="verigym sandbox build base"):
        docker_backend.open()


@pytest.mark.parametrize(
    "image,tool,command",
    [("sql", "sqlite3", "sqlite3 :memory: 'select 6*7'"), ("rtl", "iverilog", "iverilog -V 2>&1 | head -1")],
)
def test_tool_images(docker_backend, host_state, image, tool, command):
    try:
        docker_backend.image_for(Requirements(image=image))
    except ImageError as exc:
        pytest.skip(str(exc))
    with docker_backend.open(requirements=Requirements(image=image, tools=(tool,))) as session:
        result = session.exec(command)
        assert result.ok and result.stdout.strip(), result


def test_limits_are_validated():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)


def test_local_one_shot_run(local_backend, host_state):
    result = local_backend.run_once("echo $HOME; id -u; cat", stdin="in")
    assert result.ok and result.stdout == "/work\n1000\nin", result
    start = time.monotonic()
    assert local_backend.run_once("while :; do :; done", timeout=1).status is Status.TIMEOUT
    assert time.monotonic() - start < 2.5  # includes starting a fresh sandbox
    assert local_backend.run_once("yes").status is Status.OUTPUT_LIMIT
    assert (
        local_backend.run_once(
            ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 22), 1)"]
        ).status
        is Status.ERROR
    )


def test_containers_labelled_with_a_dead_owner_are_reaped(docker_backend):
    import socket as _socket

    from verigym.sandbox.docker_backend import LABEL, OWNER_LABEL, DockerBackend

    tag = docker_backend.image_for(Requirements())
    orphan = docker_backend.client.containers.run(
        tag,
        ["sleep", "300"],
        detach=True,
        network_mode="none",
        user="65534:65534",
        labels={LABEL: "1", OWNER_LABEL: f"{_socket.gethostname()}:999999999:0"},
    )
    try:
        fresh = DockerBackend(docker_backend.limits)
        assert orphan.name in fresh.reaped
        remaining = docker_backend.client.containers.list(all=True, filters={"id": orphan.id})
        assert remaining == []
    finally:
        for c in docker_backend.client.containers.list(all=True, filters={"id": orphan.id}):
            c.remove(force=True)


def test_shell_state_persists_between_calls(sandbox):
    assert sandbox.shell("mkdir -p src/deep && cd src/deep && X='a b' && export Y=2 && greet() { echo hi $1; }").ok
    result = sandbox.shell('pwd; echo "$X|$Y"; greet you; env | grep -c "^Y=2$"')
    assert result.stdout == "/work/src/deep\na b|2\nhi you\n1\n" or result.stdout.endswith(
        "src/deep\na b|2\nhi you\n1\n"
    ), result
    failing = sandbox.shell("Z=3; false")
    assert failing.status is Status.ERROR and failing.exit_code == 1
    assert sandbox.shell("echo $Z").stdout == "3\n"
    assert sandbox.shell("exit 7").exit_code == 7
    assert sandbox.shell("cat", stdin="piped").stdout == "piped"


def test_local_one_shot_memory_bomb_is_oom(local_backend, host_state):
    result = local_backend.run_once(["python3", "-c", "a = []\nwhile True: a.append(b'x' * (16 << 20))"])
    assert result.status is Status.OOM, result
