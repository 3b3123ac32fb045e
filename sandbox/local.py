"""The local backend (the embedded default): bubblewrap namespaces + rlimits, no daemon needed.

Isolation, strongest first: `bubblewrap` (user, PID, network, IPC, UTS and mount namespaces; read-only /usr;
private tmpfs workdir and /tmp; nothing of the host's /etc, /home, /root or /run), `unshare` (PID, network,
IPC, UTS and mount namespaces, unprivileged uid; the host filesystem stays visible with that uid's rights),
and `none` (rlimits only), which is refused unless the caller explicitly allows an insecure backend.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from verigym.sandbox import worker as wire
from verigym.sandbox.errors import MissingToolError, SandboxUnavailableError
from verigym.sandbox.records import ExecResult, HostMount, Isolation, Limits, Requirements
from verigym.sandbox.session import Session

_log = logging.getLogger(__name__)
WORKER = Path(wire.__file__).resolve()
PYTHON = "/usr/bin/python3"
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = 65534
INNER_UID = 1000
WORKDIR = "/work"
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types", "nsswitch.conf")
MECHANISMS = ("bubblewrap", "unshare", "none")
ALLOW_INSECURE_ENV = "VERIGYM_SANDBOX_ALLOW_INSECURE"
HOST_PREFIX = "verigym-sbx-"


def sandbox_env(workdir: str) -> dict[str, str]:
    """The whole environment a sandboxed command sees (nothing is inherited from the host)."""
    return {
        "PATH": SANDBOX_PATH,
        "HOME": workdir,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": "sandbox",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def rlimits_for(limits: Limits, address_space: bool, nproc: bool) -> dict[str, int]:
    out = {"cpu": math.ceil(limits.timeout_s) + 1, "fsize": limits.file_bytes, "nofile": limits.open_files}
    if address_space:
        out["as"] = limits.memory_bytes
    if nproc:
        out["nproc"] = limits.pids
    return out


def _launch_user(mechanism: str) -> dict:
    """Popen arguments that drop root to `nobody` before starting the sandbox (unshare drops later, via setpriv)."""
    if os.geteuid() == 0 and mechanism != "unshare":
        return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return {}


@dataclass(frozen=True)
class _Probe:
    mechanism: str
    disable_userns: bool
    reason: str


def _bwrap_supports_disable_userns(bwrap: str) -> bool:
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True).stdout
    return "--disable-userns" in help_text


class LocalBackend:
    """Sandboxes as local processes isolated by bubblewrap (or unshare), with rlimits."""

    name = "local"

    def __init__(
        self, limits: Limits | None = None, isolation: str = "auto", allow_insecure: bool | None = None
    ) -> None:
        if isolation not in ("auto", *MECHANISMS):
            raise ValueError(f"isolation must be one of auto, {', '.join(MECHANISMS)}; got {isolation!r}")
        if allow_insecure is None:
            allow_insecure = os.environ.get(ALLOW_INSECURE_ENV) == "1"
        self.limits = limits or Limits()
        self._probe = self._choose(isolation, allow_insecure)
        self.isolation = self._describe()
        self.reaped = reap_orphans() if self._probe.mechanism != "bubblewrap" else []  # host workdirs of dead owners
        log = _log.warning if not self.isolation.secure else _log.info
        log("sandbox isolation in force: %s (%s)", self.isolation.describe(), self._probe.reason)

    # -- probing ---------------------------------------------------------------------------------------------
    def _choose(self, wanted: str, allow_insecure: bool) -> _Probe:
        failures = []
        for mechanism in ("bubblewrap", "unshare"):
            if wanted not in ("auto", mechanism):
                continue
            problem = self._try(mechanism)
            if problem is None:
                disable = mechanism == "bubblewrap" and _bwrap_supports_disable_userns(shutil.which("bwrap") or "bwrap")
                note = "requested" if wanted == mechanism else "strongest that starts here"
                if failures:
                    note += "; " + "; ".join(failures)
                return _Probe(mechanism, disable, note)
            failures.append(f"{mechanism} cannot start: {problem}")
        if wanted == "none" or (wanted == "auto" and allow_insecure):
            if not allow_insecure:
                raise SandboxUnavailableError(
                    "isolation='none' runs agent code with no isolation; pass allow_insecure=True "
                    f"(or set {ALLOW_INSECURE_ENV}=1) to accept that"
                )
            return _Probe("none", False, "insecure backend explicitly allowed; " + "; ".join(failures))
        raise SandboxUnavailableError(
            "no sandbox isolation can start on this machine: " + "; ".join(failures) + ". Install bubblewrap "
            "(`verigym sandbox setup` as root, or `apt-get install bubblewrap`), or pass allow_insecure=True "
            f"(or set {ALLOW_INSECURE_ENV}=1) to run without isolation"
        )

    def _try(self, mechanism: str) -> str | None:
        tool = "bwrap" if mechanism == "bubblewrap" else "unshare"
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
        argv = self._wrap(mechanism, ["/usr/bin/true"], workdir=None, disable_userns=False)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=30, env={"PATH": SANDBOX_PATH}, **_launch_user(mechanism)
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if done.returncode != 0:
            return (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
        return None

    def _describe(self) -> Isolation:
        uid = NOBODY if os.geteuid() == 0 else os.geteuid()
        rl = "rlimits (address space, CPU, file size, open files, processes)"
        if self._probe.mechanism == "bubblewrap":
            features = [
                "user+pid+net+ipc+uts+mount namespaces",
                "read-only /usr",
                "private tmpfs workdir and /tmp",
                "no host /etc /home /root /run",
                "all capabilities dropped",
                rl,
                f"host uid {uid}",
            ]
            if self._probe.disable_userns:
                features.append("nested user namespaces disabled")
            return Isolation("local", "bubblewrap", True, tuple(features), ("cgroup memory/pids accounting",))
        if self._probe.mechanism == "unshare":
            return Isolation(
                "local",
                "unshare",
                True,
                ("pid+net+ipc+uts+mount namespaces", "no-new-privileges", rl, f"host uid {uid}"),
                ("filesystem isolation (host files readable by that uid)", "private /tmp"),
            )
        return Isolation("local", "none", False, (rl,), ("namespaces", "network isolation", "filesystem isolation"))

    @property
    def mechanism(self) -> str:
        return self._probe.mechanism

    @property
    def reason(self) -> str:
        return self._probe.reason

    # -- command lines ---------------------------------------------------------------------------------------
    def _wrap(
        self,
        mechanism: str,
        inner: list[str],
        workdir: str | None,
        disable_userns: bool,
        limits: Limits | None = None,
        mounts: tuple[HostMount, ...] = (),
    ) -> list[str]:
        limits = limits or self.limits
        if mechanism == "bubblewrap":
            argv = [
                "bwrap",
                "--unshare-user",
                "--uid",
                str(INNER_UID),
                "--gid",
                str(INNER_UID),
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--hostname",
                "sandbox",
                "--new-session",
                "--cap-drop",
                "ALL",
                "--clearenv",
            ]
            if disable_userns:
                argv.append("--disable-userns")
            if not limits.network:
                argv.append("--unshare-net")
            argv += ["--ro-bind", "/usr", "/usr"]
            for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
                host = Path("/") / top
                if host.is_symlink():
                    argv += ["--symlink", os.readlink(host), f"/{top}"]
                elif host.is_dir():
                    argv += ["--ro-bind", str(host), f"/{top}"]
            for name in ETC_FILES:
                argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
            for mount in mounts:  # read-only, and only what the env declared (remount-ro below covers the parents)
                argv += ["--ro-bind", mount.source, mount.target]
            if limits.network:
                argv += [
                    "--ro-bind-try",
                    "/etc/resolv.conf",
                    "/etc/resolv.conf",
                    "--ro-bind-try",
                    "/etc/hosts",
                    "/etc/hosts",
                ]
            argv += [
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--size",
                str(limits.disk_bytes),
                "--perms",
                "1777",
                "--tmpfs",
                "/tmp",
                "--size",
                str(limits.disk_bytes),
                "--perms",
                "0755",
                "--tmpfs",
                WORKDIR,
                "--ro-bind",
                str(WORKER),
                "/.verigym/worker.py",
                "--remount-ro",
                "/",
                "--chdir",
                WORKDIR,
            ]
            for key, value in sandbox_env(WORKDIR).items():
                argv += ["--setenv", key, value]
            return [*argv, "--", *inner]
        if mechanism == "unshare":
            net = [] if limits.network else ["--net"]
            if os.geteuid() == 0:
                drop = [
                    "setpriv",
                    f"--reuid={NOBODY}",
                    f"--regid={NOBODY}",
                    "--clear-groups",
                    "--no-new-privs",
                    "--inh-caps=-all",
                    "--bounding-set=-all",
                ]
                return [
                    "unshare",
                    *net,
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "--mount",
                    "--mount-proc",
                    "--ipc",
                    "--uts",
                    "--",
                    *drop,
                    *inner,
                ]
            return [
                "unshare",
                "--user",
                "--map-root-user",
                *net,
                "--pid",
                "--fork",
                "--kill-child",
                "--mount",
                "--mount-proc",
                "--ipc",
                "--uts",
                "--",
                *inner,
            ]
        return inner

    def _host_workdir(self) -> str:
        path = tempfile.mkdtemp(prefix=f"{HOST_PREFIX}{os.getpid()}-")
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o700)
        return path

    # -- sessions --------------------------------------------------------------------------------------------
    def open(self, limits: Limits | None = None, requirements: Requirements | None = None) -> Session:
        """A new sandbox session (fresh workdir, fresh processes)."""
        limits = limits or self.limits
        mechanism = self._probe.mechanism
        mounts = requirements.host_mounts if requirements is not None else ()
        check_mounts(mounts)
        if mounts and mechanism != "bubblewrap":
            raise SandboxUnavailableError(
                f"host_mounts need bubblewrap isolation, but the local sandbox here uses {mechanism}; install "
                "bubblewrap or use the docker backend"
            )
        host_dir = None if mechanism == "bubblewrap" else self._host_workdir()
        workdir = WORKDIR if mechanism == "bubblewrap" else host_dir
        config = {
            "workdir": workdir,
            "env": sandbox_env(workdir),
            "rlimits": rlimits_for(limits, address_space=True, nproc=mechanism != "none"),
            "output_cap": limits.output_bytes,
            "file_cap": limits.file_bytes,
            "pid_namespace": mechanism != "none",
        }
        host_sock, child_sock = socket.socketpair()
        worker_path = "/.verigym/worker.py" if mechanism == "bubblewrap" else str(WORKER)
        inner = [PYTHON, "-I", "-S", worker_path, "--fd", str(child_sock.fileno()), "--config", json.dumps(config)]
        # No --info-fd: if this process died before bwrap wrote to it, bwrap would die of SIGPIPE before
        # letting its child run, and the child would wait forever (seen as a leaked, childless bwrap).
        argv = self._wrap(mechanism, inner, workdir, self._probe.disable_userns, limits=limits, mounts=mounts)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(child_sock.fileno(),),
                start_new_session=True,
                env={"PATH": SANDBOX_PATH},
                cwd="/",
                **_launch_user(mechanism),
            )
        finally:
            child_sock.close()
        destroyer = _Destroyer(proc, host_dir)
        session = Session(
            host_sock, destroyer, limits=limits, isolation=self.isolation, id=f"local-{uuid.uuid4().hex[:10]}"
        )
        try:
            session.ping(timeout=30)
            if mechanism == "bubblewrap":  # bwrap's PID 1 in the sandbox: killing it tears the PID namespace down
                destroyer.ns_init = _only_child(proc.pid)
        except Exception as exc:  # any failure to start: tear down, then report with bwrap's own words
            session.close()
            err = destroyer.stderr_tail
            raise SandboxUnavailableError(
                f"the local sandbox ({mechanism}) did not start: {exc}; stderr: {err}"
            ) from exc
        if requirements is not None and requirements.tools:
            check_tools(
                session,
                requirements,
                hint="install them on this host (the local backend uses the host's "
                f"/usr), or use the docker backend with image {requirements.image!r}",
            )
        return session

    def run_once(
        self,
        cmd: str | list[str],
        *,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run one command in a fresh, throw-away sandbox (no worker; the fastest cold path)."""
        limits = limits or self.limits
        mechanism = self._probe.mechanism
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        timeout = float(timeout if timeout is not None else limits.timeout_s)
        rl = rlimits_for(dataclasses.replace(limits, timeout_s=timeout), True, mechanism != "none")
        inner = ["prlimit", *(f"--{name}={value}" for name, value in rl.items()), "--", *argv]
        host_dir = None if mechanism == "bubblewrap" else self._host_workdir()
        if host_dir:
            env = [f"{k}={v}" for k, v in sandbox_env(host_dir).items()]
            inner = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', host_dir, "/usr/bin/env", "-i", *env, *inner]
        wrapped = self._wrap(mechanism, inner, host_dir, self._probe.disable_userns, limits)
        if mechanism == "bubblewrap":  # this thread waits for the run, so tying the sandbox to it is safe here
            wrapped.insert(1, "--die-with-parent")
        data = stdin.encode() if isinstance(stdin, str) else stdin
        try:
            raw = wire.run_process(
                wrapped,
                stdin=data,
                timeout=timeout,
                env={"PATH": SANDBOX_PATH},
                cwd="/",
                rlimits={"as": rl["as"]},  # applied by prlimit inside; named here for out-of-memory detection
                output_cap=limits.output_bytes,
                popen_kwargs=_launch_user(mechanism),
            )
        finally:
            if host_dir:
                shutil.rmtree(host_dir, ignore_errors=True)
        return ExecResult.from_wire(raw)

    def close(self) -> None:
        """Nothing is shared between local sessions; present for symmetry with other backends."""


class _Destroyer:
    """Kills a local sandbox's process group and removes its host workdir (if any)."""

    def __init__(self, proc: subprocess.Popen, host_dir: str | None) -> None:
        self.proc, self.host_dir = proc, host_dir
        self.ns_init: int | None = None
        self.stderr_tail = ""

    def __call__(self) -> None:
        if self.ns_init is not None and self.proc.poll() is None and _parent_of(self.ns_init) == self.proc.pid:
            try:
                os.kill(self.ns_init, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:  # bwrap reaps its PID 1 and exits; killing bwrap first would leave that zombie to the host's init
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        if self.proc.stderr:
            os.set_blocking(self.proc.stderr.fileno(), False)
            try:
                self.stderr_tail = (self.proc.stderr.read() or b"").decode(errors="replace")[-2000:]
            except OSError:
                pass
            self.proc.stderr.close()
        if self.host_dir:
            shutil.rmtree(self.host_dir, ignore_errors=True)


def _only_child(pid: int) -> int | None:
    """The one child of `pid` (bwrap's sandbox PID 1 once the worker answered), or None if not exactly one."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if len(children) == 1 else None


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def check_mounts(mounts: tuple[HostMount, ...]) -> None:
    """Raise SandboxUnavailableError when a declared host mount's source is missing (or targets clash)."""
    missing = [m.source for m in mounts if not os.path.exists(m.source)]
    if missing:
        raise SandboxUnavailableError(f"host path(s) to mount into the sandbox do not exist: {', '.join(missing)}")
    targets = [m.target for m in mounts]
    if len(set(targets)) != len(targets):
        raise SandboxUnavailableError(f"two host mounts share a target: {sorted(targets)}")


def check_tools(session: Session, requirements: Requirements, hint: str) -> None:
    """Raise MissingToolError (and close `session`) when a required tool is not on the sandbox's PATH."""
    found = session.which(requirements.tools)
    missing = [tool for tool, where in found.items() if where is None]
    if missing:
        session.close()
        raise MissingToolError(f"the sandbox lacks required tool(s) {', '.join(missing)}: {hint}")


def reap_orphans() -> list[str]:
    """Remove host workdirs (unshare/none modes) whose owning process is gone; the removed paths."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{HOST_PREFIX}*"):
        owner = path.name[len(HOST_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed
