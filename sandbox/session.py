"""A sandbox session: one episode's sandbox, driven through the worker running inside it."""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence

from verigym.sandbox import worker as wire
from verigym.sandbox.errors import PathRefusedError, SandboxError, SessionClosedError
from verigym.sandbox.paths import check_relative
from verigym.sandbox.records import ExecResult, Isolation, Limits, Status

# `Session.shell`: bash re-loads the previous call's variables, functions and cwd, and saves them on exit.
SHELL_STATE = ".verigym-shell-state"
SHELL_PRELUDE = r"""
__verigym_save() {
  __rc=$?
  {
    for __n in $(compgen -v); do
      case "$__n" in
        __*|BASH*|PPID|UID|EUID|SHLVL|PWD|OLDPWD|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|FUNCNAME|GROUPS) continue;;
        PIPESTATUS|SHELLOPTS|DIRSTACK|EPOCH*|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|OPTIND|OPTERR|COMP*|_) continue;;
      esac
      declare -p "$__n" 2>/dev/null
    done
    declare -f
    printf 'cd %q\n' "$PWD"
  } > "$__state.tmp" && mv -f "$__state.tmp" "$__state"
  exit $__rc
}
__state="$HOME/STATE"
[ -f "$__state" ] && . "$__state" 2>/dev/null
trap __verigym_save EXIT
eval "$1"
""".replace("STATE", SHELL_STATE)
HOST_MARGIN_S = 2.0  # how late past its deadline (plus 10 %) the worker may answer before the host kills the sandbox


def _shutdown(sock: socket.socket, destroy: Callable[[], None]) -> None:
    try:
        sock.close()
    finally:
        destroy()


class Session:
    """One sandbox for one episode: state (files, python namespace) persists across its runs until `close()`.

    Safe to use from one thread at a time (calls are serialized by a lock). Closing is idempotent and also
    happens when the object is garbage-collected or the interpreter exits; if the owning process dies, the
    worker sees its socket close and tears the sandbox down.
    """

    def __init__(
        self,
        sock: socket.socket,
        destroy: Callable[[], None],
        *,
        limits: Limits,
        isolation: Isolation,
        id: str,
        image: str | None = None,
    ) -> None:
        self.id = id
        self.limits = limits
        self.isolation = isolation
        self.image = image
        self.created_at = time.monotonic()
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, sock, destroy)

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Destroy the sandbox (its processes, workdir and container). Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, request: dict, timeout: float | None) -> dict:
        with self._lock:
            if self._closed:
                raise SessionClosedError(f"sandbox session {self.id} is closed; open a new one")
            self._sock.settimeout(timeout)
            try:
                wire.send_frame(self._sock, request)
                response = wire.recv_frame(self._sock)
            except TimeoutError:
                self.close()
                raise TimeoutError(f"sandbox {self.id} did not answer within {timeout:.1f} s; it was killed") from None
            except OSError as exc:
                self.close()
                raise SandboxError(f"lost the connection to sandbox {self.id} ({exc}); it was destroyed") from exc
            if response is None:
                self.close()
                raise SandboxError(
                    f"the worker of sandbox {self.id} exited (was it killed by the code it ran?); the sandbox was destroyed"
                )
        if not response.get("ok"):
            kind, message = response.get("kind"), response.get("message", "")
            if kind == "path":
                raise PathRefusedError(message)
            if kind == "missing":
                raise FileNotFoundError(message)
            raise SandboxError(f"sandbox {self.id}: {message}")
        return response

    def _run(self, request: dict, timeout: float) -> ExecResult:
        start = time.monotonic()
        try:
            response = self._call(request, timeout * 1.1 + HOST_MARGIN_S)
        except TimeoutError as exc:
            return ExecResult(Status.TIMEOUT, None, None, "", "", False, False, time.monotonic() - start, str(exc))
        except SessionClosedError:
            raise
        except SandboxError as exc:
            return ExecResult(
                Status.SANDBOX_ERROR, None, None, "", "", False, False, time.monotonic() - start, str(exc)
            )
        return ExecResult.from_wire(response["result"])

    # -- operations ------------------------------------------------------------------------------------------
    def exec(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run a shell command line (str) or an argv (list) in the workdir; `input()` sees `stdin` then EOF."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]
        if not argv:
            raise ValueError("exec needs a command")
        if cwd is not None:
            check_relative(cwd)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        timeout = float(timeout if timeout is not None else self.limits.timeout_s)
        request = {
            "op": "exec",
            "argv": argv,
            "timeout": timeout,
            "env": dict(env or {}),
            "cwd": cwd,
            "stdin": wire.b64(data) if data else None,
        }
        return self._run(request, timeout)

    def shell(self, cmd: str, *, timeout: float | None = None, stdin: bytes | str | None = None) -> ExecResult:
        """Run `cmd` in bash as if in one long-lived shell: cwd, variables, exports and functions carry over
        between calls (kept in `$HOME/.verigym-shell-state`); background jobs still end with each call."""
        return self.exec(["bash", "-c", SHELL_PRELUDE, "bash", cmd], timeout=timeout, stdin=stdin)

    def run_python(self, code: str, *, timeout: float | None = None) -> ExecResult:
        """Run `code` in this session's persistent python namespace (variables survive between calls).

        A cell that is killed (timeout, memory, output) resets the namespace; the result's `detail` says so.
        """
        timeout = float(timeout if timeout is not None else self.limits.timeout_s)
        return self._run({"op": "python", "code": code, "timeout": timeout}, timeout)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Create or replace `path` (relative to the workdir; parents are created)."""
        check_relative(path)
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > self.limits.file_bytes:
            raise ValueError(f"{path!r} is {len(raw)} bytes, over the sandbox file limit of {self.limits.file_bytes}")
        self._call(
            {"op": "write", "path": path, "data": wire.b64(raw), "mode": mode}, self.limits.timeout_s + HOST_MARGIN_S
        )

    def read_file(self, path: str, max_bytes: int | None = None) -> bytes:
        """The bytes of `path` (relative to the workdir); FileNotFoundError when it does not exist."""
        check_relative(path)
        response = self._call(
            {"op": "read", "path": path, "max_bytes": max_bytes}, self.limits.timeout_s + HOST_MARGIN_S
        )
        return wire.unb64(response["data"])

    def which(self, tools: Sequence[str]) -> dict[str, str | None]:
        """Where each tool is on the sandbox's PATH (None when missing)."""
        return self._call({"op": "which", "tools": list(tools)}, HOST_MARGIN_S * 5)["found"]

    def ping(self, timeout: float = 30.0) -> dict:
        return self._call({"op": "ping"}, timeout)
