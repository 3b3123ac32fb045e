"""The security suite: hostile code against both backends. Each test also checks (fixture `host_state`) that no
sandbox process or container outlives it, i.e. the host is back at its baseline."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from urllib.parse import urlparse

import pytest

from verigym.sandbox.errors import PathRefusedError
from verigym.sandbox.images import apt_mirror
from verigym.sandbox.records import Status

pytestmark = pytest.mark.timeout(120)


def py(session, code: str, **kw):
    return session.exec(["python3", "-c", code], **kw)


def alive(session) -> None:
    result = session.exec("echo alive")
    assert result.stdout == "alive\n", result


def processes_inside(session) -> list[str]:
    """Command lines of every process in the sandbox except the worker and init."""
    code = (
        "import os\n"
        "me, parent = os.getpid(), os.getppid()\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit() and int(p) not in (me, parent, 1):\n"
        "        try: print(open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0', b' ').decode())\n"
        "        except OSError: pass\n"
    )
    lines = py(session, code).stdout.splitlines()
    return [line for line in lines if "worker.py" not in line]


class Listener:
    """A TCP server on the host that records whether anything connected."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def _host_addresses() -> list[str]:
    """Non-loopback IPv4 addresses of this host (including a docker bridge)."""
    import subprocess

    out = (
        subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout if shutil.which("ip") else ""
    )
    addrs = [part.split("/")[0] for line in out.splitlines() for part in line.split()[3:4]]
    return [a for a in addrs if not a.startswith("127.")]


CONNECT = (
    "import socket, sys\n"
    "for host in sys.argv[1:-1]:\n"
    "    s = socket.socket(); s.settimeout(2)\n"
    "    try:\n"
    "        s.connect((host, int(sys.argv[-1]))); print('CONNECTED', host)\n"
    "    except OSError as e:\n"
    "        print('failed', host, e)\n"
)


def test_host_loopback_and_host_addresses_unreachable(sandbox):
    listener = Listener("0.0.0.0")
    try:
        targets = ["127.0.0.1", *_host_addresses()]
        for host in targets:  # precondition: the host itself can connect, so a failure below means isolation
            socket.create_connection((host, listener.port), timeout=2).close()
        deadline = time.monotonic() + 10
        while listener.connections < len(targets) and time.monotonic() < deadline:
            time.sleep(0.01)  # let the accept thread count the precondition connections
        before = listener.connections
        assert before == len(targets)
        result = sandbox.exec(["python3", "-c", CONNECT, *targets, str(listener.port)])
        assert "CONNECTED" not in result.stdout, result.stdout
        assert result.stdout.count("failed") == len(targets)
        time.sleep(0.5)
        assert listener.connections == before
    finally:
        listener.close()


def test_egress_dns_and_metadata_fail(sandbox):
    mirror = urlparse(apt_mirror()).hostname
    try:  # precondition: the host can resolve and reach the package mirror
        address = socket.getaddrinfo(mirror, 80, socket.AF_INET)[0][4][0]
        socket.create_connection((address, 80), timeout=5).close()
    except OSError as exc:
        pytest.skip(f"the host itself cannot reach {mirror}: {exc}")
    result = sandbox.exec(["python3", "-c", CONNECT, address, "169.254.169.254", "80"])
    assert "CONNECTED" not in result.stdout and result.stdout.count("failed") == 2, result
    dns = py(
        sandbox,
        f"import socket\ntry:\n socket.getaddrinfo({mirror!r}, 80); print('RESOLVED')\nexcept OSError as e: print('failed', e)",
    )
    assert "RESOLVED" not in dns.stdout and "failed" in dns.stdout, dns


def test_python_fork_bomb_is_contained(sandbox, limits):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    result = py(sandbox, bomb, timeout=2)
    assert result.status is Status.TIMEOUT, result
    assert time.monotonic() - start < 2 + 3.0  # slack: the bomb's 64 processes compete for the CPU with the kill
    assert processes_inside(sandbox) == []
    alive(sandbox)


def test_shell_fork_bomb_is_contained(sandbox):
    result = sandbox.exec("bomb() { bomb | bomb & }; bomb; sleep 1.5", timeout=2)
    # "Cannot fork" messages may flood stderr past its cap: output_limit is a contained ending too
    assert result.status in (Status.TIMEOUT, Status.OK, Status.ERROR, Status.OUTPUT_LIMIT), result
    assert processes_inside(sandbox) == []
    alive(sandbox)


def test_memory_bomb_ends_as_oom(sandbox):
    host_kills = _host_oom_kills()
    inside_kills = _sandbox_oom_kills(sandbox)
    result = py(sandbox, "chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))\n", timeout=20)
    assert result.status is Status.OOM, result
    # the host was not hurt: every OOM kill the kernel made since (if any) was inside this sandbox
    assert _host_oom_kills() - host_kills == _sandbox_oom_kills(sandbox) - inside_kills
    alive(sandbox)


def _host_oom_kills() -> int:
    for line in open("/proc/vmstat"):
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    raise AssertionError("no oom_kill counter in /proc/vmstat")


def _sandbox_oom_kills(sandbox) -> int:
    """The sandbox's own cgroup OOM-kill counter (docker); 0 where none is visible (local: RLIMIT_AS, no kills)."""
    out = sandbox.exec("cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events 2>/dev/null").stdout
    kills = [int(line.split()[1]) for line in out.splitlines() if line.startswith("oom_kill ")]
    return kills[0] if kills else 0


def test_infinite_loop_times_out_promptly(sandbox):
    start = time.monotonic()
    result = sandbox.exec("while :; do :; done", timeout=1.0)
    elapsed = time.monotonic() - start
    assert result.status is Status.TIMEOUT, result
    assert elapsed < 1.5, elapsed
    alive(sandbox)


def test_double_forked_setsid_grandchild_does_not_survive(sandbox, cmdlines):
    marker = f"{uuid.uuid4().int % 10**6}.123"
    code = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.closerange(0, 3)\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print('parent done')\n"
    )
    result = py(sandbox, code)
    assert result.ok and result.stdout == "parent done\n", result
    assert processes_inside(sandbox) == []
    assert not [c for c in cmdlines() if marker in c]


def test_background_job_is_killed_when_the_run_ends(sandbox, cmdlines):
    marker = f"{uuid.uuid4().int % 10**6}.321"
    result = sandbox.exec(f"sleep {marker} & echo started")
    assert result.ok and result.stdout == "started\n"
    assert result.duration_s < 2
    assert not [c for c in cmdlines() if marker in c]


def test_output_flood_is_truncated_without_deadlock(sandbox, limits):
    start = time.monotonic()
    result = sandbox.exec("yes out & yes err >&2; wait", timeout=10)
    assert time.monotonic() - start < 5
    assert result.status is Status.OUTPUT_LIMIT, result
    assert result.stdout_truncated or result.stderr_truncated
    assert len(result.stdout.encode()) <= limits.output_bytes and len(result.stderr.encode()) <= limits.output_bytes
    alive(sandbox)


def test_disk_fill_is_stopped(sandbox, limits):
    free_before = shutil.disk_usage("/").free
    one_file = sandbox.exec("head -c 100000000 /dev/zero > big")
    assert one_file.status is Status.ERROR, one_file
    many = py(sandbox, "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20)); i += 1\n")
    assert many.status is Status.ERROR and ("No space left" in many.stderr or "File too large" in many.stderr), many
    used = int(sandbox.exec("du -sk . | cut -f1").stdout)
    assert used * 1024 <= limits.disk_bytes * 1.1
    assert shutil.disk_usage("/").free > free_before - 2 * limits.disk_bytes
    assert sandbox.exec("rm -f big f*").ok
    alive(sandbox)


def test_host_files_and_secrets_are_invisible(backend, host_state, monkeypatch):
    secret = f"verigym-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("VERIGYM_TEST_SECRET", secret)
    home_file = os.path.join(os.path.expanduser("~"), f".verigym-test-{uuid.uuid4().hex}")
    with open(home_file, "w") as f:
        f.write(secret)
    try:
        with backend.open() as sandbox:
            probe = (
                "import os, sys, glob\n"
                "for p in ['/etc/shadow', sys.argv[1], '/var/run/docker.sock', '/run/docker.sock']:\n"
                "    try:\n"
                "        open(p, 'rb').read(); print('READABLE', p)\n"
                "    except OSError as e:\n"
                "        print('hidden', p, type(e).__name__)\n"
                "print('ENV' if any(sys.argv[2] in v for v in os.environ.values()) else 'env clean')\n"
                "for p in glob.glob('/proc/[0-9]*/environ'):\n"
                "    try:\n"
                "        if sys.argv[2].encode() in open(p, 'rb').read(): print('PROCENV', p)\n"
                "    except OSError:\n"
                "        pass\n"
            )
            result = sandbox.exec(["python3", "-c", probe, home_file, secret])
            assert result.ok, result
            assert (
                "READABLE" not in result.stdout and "ENV\n" not in result.stdout and "PROCENV" not in result.stdout
            ), result.stdout
            assert result.stdout.count("hidden") == 4
            grep = sandbox.exec(
                f"grep -rs {secret} /etc /root /home /tmp /var /run /opt /srv /mnt . | head -1", timeout=30
            )
            assert grep.status is not Status.TIMEOUT, grep
            assert secret not in grep.stdout
    finally:
        os.unlink(home_file)


def test_writes_outside_the_workdir_fail(sandbox):
    result = sandbox.exec(
        "for p in /usr/x /etc/x /x /home/x /var/x; do touch $p 2>/dev/null && echo WROTE $p; done; true"
    )
    assert "WROTE" not in result.stdout, result
    for bad in ("../x", "/etc/passwd", "a/../../x", "/work/x", "..", "a/.."):
        with pytest.raises(PathRefusedError):
            sandbox.write_file(bad, "x")
        with pytest.raises(PathRefusedError):
            sandbox.read_file(bad)
    assert sandbox.exec("ln -s /etc evil && ln -s .. up").ok
    with pytest.raises(PathRefusedError):
        sandbox.write_file("evil/x", "x")
    with pytest.raises(PathRefusedError):
        sandbox.read_file("up/etc/passwd")
    sandbox.write_file("ok/inside.txt", "fine")
    assert sandbox.read_file("ok/inside.txt") == b"fine"


def test_privilege_escalation_fails(sandbox):
    setuid = py(
        sandbox, "import os\ntry:\n    os.setuid(0); print('ROOT')\nexcept OSError as e:\n    print('denied', e)"
    )
    assert "ROOT" not in setuid.stdout and "denied" in setuid.stdout, setuid
    for cmd in ("mount -t tmpfs none /tmp", "unshare -U true", "unshare -r true", "unshare -n true"):
        result = sandbox.exec(cmd)
        assert result.status is Status.ERROR, (cmd, result)
    uid = sandbox.exec("id -u").stdout.strip()
    assert uid != "0"
    caps = sandbox.exec("grep CapEff /proc/self/status").stdout.split()[-1]
    assert int(caps, 16) == 0, caps


def test_fd_exhaustion_is_contained(sandbox, limits):
    code = "fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\nexcept OSError as e:\n    print(len(fs), e.errno)"
    result = py(sandbox, code)
    count, errno = result.stdout.split()
    assert result.ok and int(count) < limits.open_files and errno == "24", result
    alive(sandbox)


def test_input_gets_eof_immediately(sandbox):
    start = time.monotonic()
    result = py(sandbox, "input()", timeout=5)
    assert time.monotonic() - start < 1.0
    assert result.status is Status.ERROR and "EOFError" in result.stderr, result
    echoed = py(sandbox, "print(input()); input()", stdin="hello\n")
    assert echoed.stdout == "hello\n" and "EOFError" in echoed.stderr


def test_host_kills_a_sandbox_whose_worker_stops_answering(backend, host_state):
    session = backend.open()
    start = time.monotonic()
    result = session.exec("kill -STOP $PPID; sleep 1", timeout=1)
    assert result.status is Status.TIMEOUT and "killed" in result.detail, result
    assert time.monotonic() - start < 1 + 3.5
    assert session.closed
