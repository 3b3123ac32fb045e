"""The verigym sandbox worker: runs inside a sandbox and serves one host over one stream socket.

Standard library only: it runs on the sandbox's own python3. Protocol: frames made of a 4-byte big-endian length
and a JSON object; one request, one response. The host also imports `run_process` from here to run a command
directly (the local backend's one-shot path), so results are classified in exactly one place.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
READ_CHUNK = 1 << 16
CHILD_NICE = 10  # commands run at this niceness; the worker stays at 0
KILL_GRACE_S = 0.25  # after killing, how long to wait for the pipes to reach EOF
RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
}
# What a process that ran out of address space (RLIMIT_AS) typically prints before it exits.
OOM_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"cannot allocate", b"out of memory", b"bad_alloc")
OOM_COUNTERS = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")


def send_frame(sock: socket.socket, obj: dict) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            if got == 0:
                return None
            raise ConnectionError("connection closed in the middle of a frame")
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket) -> dict | None:
    """The next frame, or None when the peer closed the connection."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes exceeds the {MAX_FRAME} byte limit")
    body = _recv_exact(sock, size)
    if body is None:
        raise ConnectionError("connection closed in the middle of a frame")
    return json.loads(body)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def apply_own_limits(rlimits: dict[str, int]) -> None:
    """Set the inheritable limits (all but CPU time) on this process, so every child starts under them."""
    for name, value in rlimits.items():
        if name != "cpu":
            resource.setrlimit(RLIMITS[name], (value, value))


def limit_child(pid: int, rlimits: dict[str, int], cpu_used: float = 0.0) -> None:
    """Give a just-started child its CPU-time limit, a lower CPU priority (so the worker that must kill it at
    its deadline stays responsive under a CPU or fork bomb) and make it the OOM killer's first choice."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, CHILD_NICE)
    except (ProcessLookupError, PermissionError):
        pass
    if "cpu" in rlimits:
        soft = int(cpu_used) + rlimits["cpu"]
        try:  # SIGXCPU at the soft limit, SIGKILL one second later
            resource.prlimit(pid, resource.RLIMIT_CPU, (soft, soft + 1))
        except (ProcessLookupError, PermissionError):
            pass
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def read_oom_count(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except OSError:
        return 0
    return 0


def find_oom_counter() -> str | None:
    """A cgroup file counting OOM kills of this sandbox, when one is visible (docker)."""
    for path in OOM_COUNTERS:
        if os.path.exists(path) and read_oom_count(path) >= 0:
            try:
                with open(path) as f:
                    if "oom_kill" in f.read():
                        return path
            except OSError:
                continue
    return None


def sweep_namespace(keep: set[int], child: int | None = None) -> None:
    """Kill every process of this PID namespace except `keep` (and the worker, its parent, init).

    Zombies are left to their parents, except orphans re-parented to the worker (when it is PID 1); `child`
    (a subprocess.Popen child) is never reaped here, so Popen still sees its exit status.
    """
    extra = set(keep) - {os.getpid(), os.getppid(), 1}
    keep = set(keep) | {os.getpid(), os.getppid(), 1}
    me = os.getpid()
    try:
        _sweep_rounds(keep, me, child, freeze=lambda: os.kill(-1, signal.SIGSTOP))
    finally:
        for pid in extra:  # the processes we keep were frozen with the rest
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _sweep_rounds(keep: set[int], me: int, child: int | None, freeze) -> None:
    frozen = False
    for _ in range(10000):
        victims = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in keep:
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] == b"Z":
                if int(fields[1]) == me and pid != child:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
                continue
            victims.append(pid)
        if not victims:
            return
        if not frozen:  # one atomic signal stops every other process in the namespace, fork bombs included
            freeze()
            frozen = True
            continue  # rescan: whatever was forked before the freeze is stopped now
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                keep.add(pid)
        time.sleep(0.0002)


class Refused(Exception):
    """A file path that leaves the workdir."""


class _Run:
    """Bookkeeping of one run: bounded buffers, why it was stopped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.bufs = {"stdout": bytearray(), "stderr": bytearray()}
        self.truncated = {"stdout": False, "stderr": False}
        self.reason: str | None = None
        self.detail = ""

    def add(self, name: str, data: bytes) -> bool:
        """Keep what fits under the cap; True when the stream just went over it."""
        buf = self.bufs[name]
        room = self.cap - len(buf)
        if len(data) <= room:
            buf += data
            return False
        buf += data[: max(room, 0)]
        over = not self.truncated[name]
        self.truncated[name] = True
        return over


def _drain(
    run: _Run,
    streams: dict,
    stdin_data: bytes | None,
    stdin_file,
    done_fd: int | None,
    deadline: float,
    kill,
    until_eof: bool,
    poll_done=None,
) -> bool:
    """Pump stdin/stdout/stderr until done (and EOF when `until_eof`) or killed; True when `done_fd` fired."""
    sel = selectors.DefaultSelector()
    names = {}
    for name, f in streams.items():
        os.set_blocking(f.fileno(), False)
        sel.register(f.fileno(), selectors.EVENT_READ, name)
        names[name] = f.fileno()
    pending = memoryview(stdin_data) if stdin_data else None
    if stdin_file is not None:
        if pending:
            os.set_blocking(stdin_file.fileno(), False)
            sel.register(stdin_file.fileno(), selectors.EVENT_WRITE, "stdin")
        else:
            stdin_file.close()
    if done_fd is not None:
        sel.register(done_fd, selectors.EVENT_READ, "done")
    open_streams = set(streams)
    done = False
    finish_by: float | None = None

    def stop(reason: str, detail: str) -> None:
        nonlocal finish_by
        if run.reason is None:
            run.reason, run.detail = reason, detail
        kill()
        finish_by = time.monotonic() + KILL_GRACE_S

    try:
        while open_streams:
            now = time.monotonic()
            if finish_by is None and now >= deadline:
                stop("timeout", "killed at the wall-clock limit")
            if finish_by is not None and now >= finish_by:
                break
            limit = finish_by if finish_by is not None else deadline
            wait = limit - now
            if poll_done is not None and not done:
                wait = min(wait, 0.01)
            for key, _ in sel.select(max(wait, 0.0)):
                tag = key.data
                if tag == "done":
                    sel.unregister(key.fd)
                    done = True
                    if not until_eof:
                        finish_by = time.monotonic()
                    else:
                        kill()  # leftovers (background jobs) would otherwise hold the pipes open
                        if finish_by is None:
                            finish_by = time.monotonic() + KILL_GRACE_S
                elif tag == "stdin":
                    try:
                        written = os.write(key.fd, pending[:READ_CHUNK])
                        pending = pending[written:]
                    except (BrokenPipeError, OSError):
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        stdin_file.close()
                else:
                    try:
                        data = os.read(key.fd, READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fd)
                        open_streams.discard(tag)
                    elif run.add(tag, data):
                        stop("output_limit", f"{tag} exceeded {run.cap} bytes")
            if poll_done is not None and not done and poll_done():
                done = True
                kill()
                if finish_by is None:
                    finish_by = time.monotonic() + KILL_GRACE_S
        if not until_eof:
            for name in open_streams:  # what the finished cell already wrote
                while True:
                    try:
                        data = os.read(names[name], READ_CHUNK)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    if run.add(name, data):
                        run.reason, run.detail = run.reason or "output_limit", f"{name} exceeded {run.cap} bytes"
    finally:
        sel.close()
        if stdin_file is not None and not stdin_file.closed:
            stdin_file.close()
    return done


def _classify(run: _Run, returncode: int | None, oom_killed: bool, rlimits: dict[str, int], duration: float) -> dict:
    sig = -returncode if returncode is not None and returncode < 0 else None
    code = returncode if returncode is not None and returncode >= 0 else None
    status, detail = "error", run.detail
    if run.reason is not None:
        status = run.reason
    elif oom_killed:
        status, detail = "oom", "killed by the out-of-memory killer at the memory limit"
    elif sig == signal.SIGXCPU:
        status, detail = "timeout", "killed at the CPU-time limit"
    elif returncode == 0:
        status = "ok"
    elif "as" in rlimits and any(m in run.bufs["stderr"][-4096:] for m in OOM_MARKERS):
        status, detail = "oom", "ran out of its address-space limit"
    elif sig == signal.SIGXFSZ:
        detail = "killed at the file-size limit"
    return {
        "status": status,
        "exit_code": code,
        "signal": sig,
        "stdout": run.bufs["stdout"].decode("utf-8", "replace"),
        "stderr": run.bufs["stderr"].decode("utf-8", "replace"),
        "stdout_truncated": run.truncated["stdout"],
        "stderr_truncated": run.truncated["stderr"],
        "duration_s": duration,
        "detail": detail,
    }


def run_process(
    argv: list[str],
    *,
    stdin: bytes | None = None,
    timeout: float,
    env: dict[str, str] | None,
    cwd: str | None,
    rlimits: dict[str, int],
    output_cap: int,
    sweep=None,
    oom_counter: str | None = None,
    popen_kwargs: dict | None = None,
) -> dict:
    """Run `argv` in a new session with capped output and a wall-clock deadline; a result dict.

    `rlimits` are the limits the command runs under: `cpu` is applied here, the others must already be in force
    (set on the worker and inherited, or applied by a wrapper); an `as` entry enables out-of-memory detection.
    """
    start = time.monotonic()
    deadline = start + timeout
    oom_before = read_oom_count(oom_counter)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            **(popen_kwargs or {}),
        )
    except OSError as exc:
        run = _Run(output_cap)
        run.add("stderr", f"cannot run {argv[0]!r}: {exc.strerror}\n".encode())
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        return _classify(run, code, False, {}, time.monotonic() - start)

    limit_child(proc.pid, rlimits)

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if sweep is not None:
            sweep(proc.pid)

    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    run = _Run(output_cap)
    try:
        _drain(
            run,
            {"stdout": proc.stdout, "stderr": proc.stderr},
            stdin,
            proc.stdin,
            pidfd,
            deadline,
            kill,
            until_eof=True,
            poll_done=None if pidfd is not None else (lambda: proc.poll() is not None),
        )
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.0) if run.reason is None else None)
        except subprocess.TimeoutExpired:
            run.reason, run.detail = "timeout", "killed at the wall-clock limit"
            kill()
            proc.wait()
        kill()  # whatever it left behind (setsid'd grandchildren included, when `sweep` is given)
    finally:
        if pidfd is not None:
            os.close(pidfd)
        proc.stdout.close()
        proc.stderr.close()
    oom = read_oom_count(oom_counter) > oom_before
    return _classify(run, proc.returncode, oom, rlimits, time.monotonic() - start)


REPL_SOURCE = r"""
import os, struct, sys, traceback
ctl_in = os.fdopen(int(sys.argv[1]), "rb", buffering=0)
ctl_out = os.fdopen(int(sys.argv[2]), "wb", buffering=0)
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
while True:
    head = ctl_in.read(4)
    if len(head) < 4:
        break
    (size,) = struct.unpack(">I", head)
    code = b""
    while len(code) < size:
        code += ctl_in.read(size - len(code))
    rc = 0
    try:
        exec(compile(code.decode(), "<cell>", "exec"), namespace)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        rc = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    ctl_out.write(struct.pack(">i", rc))
"""


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class PythonRepl:
    """A long-lived python3 process holding one namespace across cells (reset when a cell is killed)."""

    def __init__(self, env: dict[str, str], cwd: str, rlimits: dict[str, int]) -> None:
        self.env, self.cwd, self.rlimits = env, cwd, rlimits
        self.proc: subprocess.Popen | None = None

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _start(self) -> None:
        code_r, code_w = os.pipe()
        status_r, status_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-u", "-c", REPL_SOURCE, str(code_r), str(status_w)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            pass_fds=(code_r, status_w),
        )
        limit_child(self.proc.pid, {})
        os.close(code_r)
        os.close(status_w)
        self.code_w, self.status_r = code_w, status_r

    def _signal(self, sweep) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if sweep is not None:
            sweep()

    def kill(self, sweep) -> None:
        """Kill the REPL (its namespace is lost) and release its pipes."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for fd in (self.code_w, self.status_r):
                os.close(fd)
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None
        if sweep is not None:
            sweep()

    def run(self, code: str, timeout: float, output_cap: int, sweep, oom_counter: str | None) -> dict:
        start = time.monotonic()
        fresh = self.proc is None
        if fresh:
            self._start()
        oom_before = read_oom_count(oom_counter)
        limit_child(self.proc.pid, {"cpu": math.ceil(timeout) + 1}, _cpu_seconds(self.proc.pid))
        data = code.encode()
        os.write(self.code_w, HEADER.pack(len(data)) + data)
        run = _Run(output_cap)
        proc = self.proc
        done = _drain(
            run,
            {"stdout": proc.stdout, "stderr": proc.stderr},
            None,
            None,
            self.status_r,
            start + timeout,
            lambda: self._signal(sweep),
            until_eof=False,
        )
        returncode: int | None = None
        if done and run.reason is None:
            raw = os.read(self.status_r, 4)
            if len(raw) == 4:
                (returncode,) = struct.unpack(">i", raw)
                if sweep is not None:
                    sweep(keep={proc.pid})  # subprocesses a cell started do not outlive it
            else:
                returncode = proc.wait()
                self.kill(sweep)
                run.detail = "the python process died; its namespace was reset"
        elif self.proc is not None:
            self.kill(sweep)
        if run.reason is not None:
            run.detail += "; the python namespace was reset"
        oom = read_oom_count(oom_counter) > oom_before
        result = _classify(run, returncode, oom, self.rlimits, time.monotonic() - start)
        result["fresh_namespace"] = fresh
        return result


class Worker:
    """Serves exec / python / file requests for one sandbox session."""

    def __init__(self, config: dict) -> None:
        self.workdir = os.path.realpath(config["workdir"])
        self.env = config["env"]
        self.rlimits = {k: int(v) for k, v in config["rlimits"].items()}
        self.output_cap = int(config["output_cap"])
        self.file_cap = int(config["file_cap"])
        self.has_pid_namespace = bool(config["pid_namespace"])
        self.oom_counter = find_oom_counter()
        apply_own_limits(self.rlimits)
        self.repl = PythonRepl(self.env, self.workdir, self.rlimits)

    def sweep(self, keep: set[int] | None = None, child: int | None = None) -> None:
        if self.has_pid_namespace:
            sweep_namespace(set(keep or ()), child)

    def path(self, rel: str) -> str:
        if not isinstance(rel, str) or not rel or rel.startswith("/") or "\x00" in rel:
            raise Refused(f"path {rel!r} must be relative to the workdir")
        if ".." in rel.split("/"):
            raise Refused(f"path {rel!r} must not contain '..'")
        full = os.path.join(self.workdir, rel)
        real = os.path.realpath(full)
        if real != self.workdir and not real.startswith(self.workdir + "/"):
            raise Refused(f"path {rel!r} leaves the workdir (through a symlink)")
        return full

    def handle(self, req: dict) -> dict:
        op = req.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "uid": os.getuid(), "oom_counter": self.oom_counter}
        if op == "exec":
            cwd = self.path(req["cwd"]) if req.get("cwd") else self.workdir
            keep = {self.repl.pid()} if self.repl.pid() else set()
            timeout = float(req["timeout"])
            result = run_process(
                req["argv"],
                stdin=unb64(req["stdin"]) if req.get("stdin") else None,
                timeout=timeout,
                env={**self.env, **req.get("env", {})},
                cwd=cwd,
                rlimits={**self.rlimits, "cpu": math.ceil(timeout) + 1},
                output_cap=self.output_cap,
                sweep=(lambda child: self.sweep(keep, child)) if self.has_pid_namespace else None,
                oom_counter=self.oom_counter,
            )
            return {"ok": True, "result": result}
        if op == "python":
            result = self.repl.run(
                req["code"],
                float(req["timeout"]),
                self.output_cap,
                self.sweep if self.has_pid_namespace else None,
                self.oom_counter,
            )
            return {"ok": True, "result": result}
        if op == "write":
            full = self.path(req["path"])
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, int(req.get("mode", 0o644)))
            with os.fdopen(fd, "wb") as f:
                f.write(unb64(req["data"]))
            return {"ok": True}
        if op == "read":
            full = self.path(req["path"])
            limit = int(req.get("max_bytes") or self.file_cap)
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read(limit + 1)
            if len(data) > limit:
                raise OverflowError(f"file {req['path']!r} is larger than {limit} bytes")
            return {"ok": True, "data": b64(data)}
        if op == "which":
            path = self.env.get("PATH", os.defpath)
            return {"ok": True, "found": {tool: shutil.which(tool, path=path) for tool in req["tools"]}}
        raise ValueError(f"unknown op {op!r}")

    def serve(self, sock: socket.socket) -> None:
        try:
            while True:
                req = recv_frame(sock)
                if req is None:
                    return
                try:
                    resp = self.handle(req)
                except Refused as exc:
                    resp = {"ok": False, "kind": "path", "message": str(exc)}
                except FileNotFoundError as exc:
                    resp = {"ok": False, "kind": "missing", "message": f"{exc.strerror}: {req.get('path')}"}
                except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
                    resp = {"ok": False, "kind": "other", "message": f"{type(exc).__name__}: {exc}"}
                send_frame(sock, resp)
        finally:
            self.repl.kill(None)
            self.sweep()


def _undumpable() -> None:
    """Stop code run in the sandbox (same uid) from ptracing the worker or reading its memory and sockets."""
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="verigym sandbox worker")
    parser.add_argument("--fd", type=int, help="an already connected stream socket")
    parser.add_argument("--connect", help="path of the host's unix socket to connect to")
    parser.add_argument("--config", required=True, help="JSON: workdir, env, rlimits, output_cap, ...")
    args = parser.parse_args(argv)
    _undumpable()
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.connect)
    Worker(json.loads(args.config)).serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
