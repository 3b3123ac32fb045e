"""Read-only host mounts (`Requirements.host_mounts`): visible where declared, read-only, and nothing else."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from verigym.envs.kernels.mounts import SITE, package_mounts, python_mismatch
from verigym.sandbox.errors import SandboxUnavailableError
from verigym.sandbox.records import HostMount, Requirements


@pytest.fixture(scope="module")
def host_dir():
    path = tempfile.mkdtemp(prefix="verigym-mount-test-")
    os.chmod(path, 0o755)
    with open(os.path.join(path, "pkg.txt"), "w") as fh:
        fh.write("from the host\n")
    os.chmod(os.path.join(path, "pkg.txt"), 0o644)
    os.mkdir(os.path.join(path, "sibling-not-mounted"))
    yield path
    shutil.rmtree(path)


def test_mount_paths_are_validated():
    for source, target in [("rel", "/opt/host/x"), ("/a", "/usr/lib/x"), ("/a", "/opt/host/"), ("/a/../b", "/opt/host/x"),
                           ("/a", "/opt/host/x:rw"), ("/a", "/opt/host/../../etc")]:
        with pytest.raises(ValueError):
            HostMount(source, target)


def test_mounted_path_is_readable_read_only_and_nothing_else_of_the_host_shows(sandbox_providers, host_dir):
    mount = HostMount(os.path.join(host_dir, "pkg.txt"), "/opt/host/data/pkg.txt")
    provider = sandbox_providers.provider(Requirements(image="base", tools=("python3",), host_mounts=(mount,)))
    with provider.session() as session:
        read = session.exec(["cat", "/opt/host/data/pkg.txt"])
        assert read.ok and read.stdout == "from the host\n"
        for target in ("/opt/host/data/pkg.txt", "/opt/host/data/new.txt"):
            write = session.exec(["sh", "-c", f"echo x > {target}"])
            assert not write.ok and ("Read-only" in write.stderr or "Permission denied" in write.stderr), write
        listing = session.exec(["sh", "-c", "ls -A /opt/host /opt/host/data"])
        assert listing.ok and listing.stdout.split() == ["/opt/host:", "data", "/opt/host/data:", "pkg.txt"], listing.stdout
        for hidden in (host_dir, os.path.join(host_dir, "sibling-not-mounted"), "/work/main", os.path.realpath(__file__)):
            assert not session.exec(["test", "-e", hidden]).ok, hidden


def test_a_missing_mount_source_refuses_to_open(local_providers):
    mount = HostMount("/nonexistent/verigym/pkg", "/opt/host/pkg")
    with pytest.raises(SandboxUnavailableError, match="do not exist"):
        local_providers.provider(Requirements(host_mounts=(mount,))).backend.open(
            requirements=Requirements(host_mounts=(mount,)))


def test_package_mounts_cover_torch_and_triton_and_sandbox_python_matches(local_providers):
    mounts = package_mounts()
    targets = {m.target for m in mounts}
    assert {f"{SITE}/torch", f"{SITE}/triton", f"{SITE}/numpy"} <= targets
    assert all(m.target.startswith(SITE + "/") for m in mounts)
    with local_providers.provider(Requirements()).session() as session:
        version = session.exec(["python3", "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    assert python_mismatch(version) is None, python_mismatch(version)
    assert python_mismatch("3.12.1") is not None
