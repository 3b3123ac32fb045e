"""The Docker backend: one hardened container per session, driven by a long-lived worker inside it.

The host talks to the worker over a unix socket in a bind-mounted control directory (files travel the same
way: `put_archive` cannot write into a read-only container). Containers are labelled with their owner
(host, pid, process start time) so a later backend reaps the containers of owners that died.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from verigym.sandbox.errors import ImageError, SandboxUnavailableError
from verigym.sandbox.images import docker_client, get_recipe, image_exists, image_tag
from verigym.sandbox.local import WORKER, check_mounts, check_tools, rlimits_for, sandbox_env
from verigym.sandbox.records import ExecResult, Isolation, Limits, Requirements, Status
from verigym.sandbox.session import Session

LABEL = "verigym.sandbox"
OWNER_LABEL = "verigym.owner"
WORKDIR = "/work"
CTL_MOUNT = "/.verigym/ctl"
USER = "65534:65534"
CONNECT_TIMEOUT_S = 60.0


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    """`host:pid:start-time` of a process (this one by default): unique even when pids are reused."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's container: not ours to judge
    return pid.isdigit() and _start_time(int(pid)) == started


def ctl_root() -> Path:
    return Path(tempfile.gettempdir()) / "verigym-docker-ctl"


def reap_orphans(client: Any) -> list[str]:
    """Remove verigym containers (and control dirs) whose owning process is gone; the removed container names."""
    import docker

    removed = []
    # the low-level listing reads labels from one call (the high-level one inspects each container, and a
    # container removed meanwhile by its owner would raise NotFound)
    for container in client.api.containers(all=True, filters={"label": LABEL}):
        owner = (container.get("Labels") or {}).get(OWNER_LABEL, "")
        if owner and not owner_alive(owner):
            try:
                client.api.remove_container(container["Id"], force=True)
                removed.append((container.get("Names") or [container["Id"][:12]])[0].lstrip("/"))
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: removal already in progress
                    raise
    root = ctl_root()
    if root.exists():
        for path in root.iterdir():
            pid = path.name.split("-", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(path, ignore_errors=True)
    return removed


class _ContainerDestroyer:
    """Kills and removes one container (idempotent; tolerant of a container that already went away)."""

    def __init__(self, client: Any, container_id: str, ctl_dir: Path) -> None:
        self.client, self.container_id, self.ctl_dir = client, container_id, ctl_dir

    def __call__(self) -> None:
        import docker

        try:
            self.client.api.remove_container(self.container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
        finally:
            shutil.rmtree(self.ctl_dir, ignore_errors=True)


class DockerBackend:
    """Sandboxes as hardened Docker containers (no network, read-only root, non-root, no capabilities)."""

    name = "docker"

    def __init__(self, limits: Limits | None = None, client: Any = None, reap: bool = True) -> None:
        try:
            self.client = client or docker_client(timeout=60)
        except ImageError as exc:
            raise SandboxUnavailableError(str(exc)) from exc
        self.limits = limits or Limits()
        self.owner = owner_id()
        self.reaped = reap_orphans(self.client) if reap else []
        info = self.client.info()
        self.seccomp = any("seccomp" in opt for opt in info.get("SecurityOptions", []))
        features = [
            "container namespaces (pid, ipc, uts, mount; network none)",
            "read-only root filesystem",
            "tmpfs workdir and /tmp",
            "cgroup limits: memory (= memory+swap), pids, CPU quota",
            "all capabilities dropped",
            "no-new-privileges",
            f"non-root uid {USER}",
            "init reaps zombies",
        ]
        if self.seccomp:
            features.append("default seccomp profile")
        self.isolation = Isolation("docker", "docker", True, tuple(features), () if self.seccomp else ("seccomp",))
        logging.getLogger(__name__).info(
            "sandbox isolation in force: %s; reaped %d orphan(s)", self.isolation.describe(), len(self.reaped)
        )

    def image_for(self, requirements: Requirements) -> str:
        """The tag of the image `requirements` names; ImageError (saying how to build it) when missing."""
        get_recipe(requirements.image)
        tag = image_tag(requirements.image)
        if not image_exists(self.client, tag):
            raise ImageError(f"sandbox image {tag} is not built; run `verigym sandbox build {requirements.image}`")
        return tag

    def _host_config(self, limits: Limits, gpus: bool) -> dict:
        import docker

        tmpfs = f"rw,exec,nosuid,nodev,size={limits.disk_bytes}"  # docker's tmpfs default is noexec
        uid, gid = USER.split(":")
        return self.client.api.create_host_config(
            network_mode="bridge" if limits.network else "none",
            read_only=True,
            tmpfs={WORKDIR: f"{tmpfs},uid={uid},gid={gid},mode=0755", "/tmp": f"{tmpfs},mode=1777"},
            pids_limit=limits.pids,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            nano_cpus=int(limits.cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            init=True,
            auto_remove=True,
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                docker.types.Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
            ],
            binds={str(WORKER): {"bind": "/.verigym/worker.py", "mode": "ro"}},
            device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpus else None,
        )

    def open(self, limits: Limits | None = None, requirements: Requirements | None = None) -> Session:
        """A new container session; ImageError when the image is missing, MissingToolError when a tool is."""
        limits = limits or self.limits
        requirements = requirements or Requirements()
        tag = self.image_for(requirements)
        sid = uuid.uuid4().hex[:12]
        ctl_dir = ctl_root() / f"{os.getpid()}-{sid}"
        ctl_dir.mkdir(parents=True, mode=0o755)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock_path = ctl_dir / "ctl.sock"
        listener.bind(str(sock_path))
        os.chmod(sock_path, 0o777)
        listener.listen(1)
        config = {
            "workdir": WORKDIR,
            "env": sandbox_env(WORKDIR),
            "rlimits": rlimits_for(limits, address_space=False, nproc=False),
            "output_cap": limits.output_bytes,
            "file_cap": limits.file_bytes,
            "pid_namespace": True,
        }
        check_mounts(requirements.host_mounts)
        host_config = self._host_config(limits, requirements.gpus)
        host_config["Binds"].append(f"{ctl_dir}:{CTL_MOUNT}:ro")
        host_config["Binds"] += [f"{m.source}:{m.target}:ro" for m in requirements.host_mounts]
        destroy = None
        try:
            created = self.client.api.create_container(
                tag,
                command=[
                    "python3",
                    "-I",
                    "-S",
                    "/.verigym/worker.py",
                    "--connect",
                    f"{CTL_MOUNT}/ctl.sock",
                    "--config",
                    json.dumps(config),
                ],
                user=USER,
                working_dir=WORKDIR,
                environment=sandbox_env(WORKDIR),
                hostname="sandbox",
                network_disabled=not limits.network,
                labels={LABEL: "1", OWNER_LABEL: self.owner},
                host_config=host_config,
                name=f"verigym-sbx-{sid}",
            )
            destroy = _ContainerDestroyer(self.client, created["Id"], ctl_dir)
            self.client.api.start(created["Id"])
            conn = self._accept(listener, created["Id"])
        except BaseException:
            listener.close()
            if destroy is not None:
                destroy()
            else:
                shutil.rmtree(ctl_dir, ignore_errors=True)
            raise
        listener.close()
        sock_path.unlink()
        session = Session(conn, destroy, limits=limits, isolation=self.isolation, id=f"docker-{sid}", image=tag)
        session.container_id = created["Id"]  # type: ignore[attr-defined]
        session.ping()
        if requirements.tools:
            check_tools(
                session,
                requirements,
                hint=f"image {tag} does not provide them; add the packages to "
                f"sandbox/images/{requirements.image}.toml and run `verigym sandbox build {requirements.image}`",
            )
        return session

    def _accept(self, listener: socket.socket, container_id: str) -> socket.socket:
        import docker

        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        listener.settimeout(0.5)
        while True:
            try:
                conn, _ = listener.accept()
                conn.settimeout(None)
                return conn
            except TimeoutError:
                try:
                    state = self.client.api.inspect_container(container_id)["State"]
                except docker.errors.NotFound:
                    state = {"Status": "removed"}
                if state.get("Status") != "running" or time.monotonic() > deadline:
                    try:
                        logs = self.client.api.logs(container_id, tail=20).decode(errors="replace")
                    except docker.errors.APIError:
                        logs = "(container already removed)"
                    raise SandboxUnavailableError(
                        f"the sandbox worker in container {container_id[:12]} did not connect "
                        f"(state {state.get('Status')}); container output:\n{logs}"
                    ) from None

    def docker_exec(self, session: Session, argv: list[str], timeout: float = 10.0) -> ExecResult:
        """Run `argv` with one `docker exec` (the baseline the worker is measured against; no deadline kill)."""
        start = time.monotonic()
        api = self.client.api
        exec_id = api.exec_create(session.container_id, argv, user=USER, workdir=WORKDIR)["Id"]  # type: ignore[attr-defined]
        out, err = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id)["ExitCode"]
        status = Status.OK if code == 0 else Status.ERROR
        return ExecResult(
            status,
            code,
            None,
            (out or b"").decode(errors="replace"),
            (err or b"").decode(errors="replace"),
            False,
            False,
            time.monotonic() - start,
        )

    def close(self) -> None:
        self.client.close()
