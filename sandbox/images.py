"""Sandbox images built without a registry: debootstrap a minimal Debian, add per-image packages, `docker import`.

Each image is described by a recipe (`sandbox/images/NAME.toml`) and tagged `verigym/NAME:HASH`, where HASH is a
content hash of the recipe chain, so a build is skipped when the tag already exists. Tool images start from a
copy of the cached base root filesystem instead of a second debootstrap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verigym.sandbox.errors import ImageError

SUITE = "bookworm"
RECIPE_DIR = Path(__file__).with_name("images")
RECIPE_FORMAT = 1  # bump to force every image to rebuild
REPOSITORY = "verigym"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Recipe:
    """What goes into one image: Debian packages on top of a parent image, and the tools it promises."""

    name: str
    description: str
    packages: tuple[str, ...]
    tools: tuple[str, ...]
    parent: str | None = None
    dockerfile: str | None = None


@dataclass(frozen=True)
class BuildResult:
    """The outcome of building (or finding) one image."""

    name: str
    tag: str
    skipped: bool
    seconds: float
    notes: list[str] = field(default_factory=list)


def cache_dir() -> Path:
    """Where root filesystems are cached (`$VERIGYM_CACHE/sandbox`, else /var/cache as root, else ~/.cache)."""
    if env := os.environ.get("VERIGYM_CACHE"):
        return Path(env) / "sandbox"
    if os.geteuid() == 0:
        return Path("/var/cache/verigym/sandbox")
    return Path.home() / ".cache" / "verigym" / "sandbox"


def load_recipes() -> dict[str, Recipe]:
    """Every recipe shipped in `sandbox/images/`."""
    recipes = {}
    for path in sorted(RECIPE_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        recipes[path.stem] = Recipe(
            name=path.stem,
            description=data.get("description", ""),
            packages=tuple(data.get("packages", ())),
            tools=tuple(data.get("tools", ())),
            parent=data.get("from"),
            dockerfile=data.get("dockerfile"),
        )
    return recipes


def get_recipe(name: str) -> Recipe:
    recipes = load_recipes()
    if name not in recipes:
        raise ImageError(f"no sandbox image recipe named {name!r}; known: {', '.join(sorted(recipes))}")
    return recipes[name]


def recipe_hash(name: str) -> str:
    """A content hash of the recipe and all its parents (12 hex digits)."""
    recipe = get_recipe(name)
    payload: dict[str, Any] = {
        "format": RECIPE_FORMAT,
        "suite": SUITE,
        "packages": sorted(recipe.packages),
        "dockerfile": recipe.dockerfile,
        "parent": recipe_hash(recipe.parent) if recipe.parent else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def image_tag(name: str) -> str:
    """The tag the current recipe of image `name` is built under."""
    return f"{REPOSITORY}/{name}:{recipe_hash(name)}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (read from its sources, never hard-coded)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "#")):
                    fields[key.strip().lower()] = value.strip()
            if SUITE in fields.get("suites", "").split() and fields.get("uris"):
                return fields["uris"].split()[0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                return parts[1] if not parts[1].startswith("[") else parts[2]
    raise ImageError(f"no apt source for Debian {SUITE} found in /etc/apt; cannot debootstrap an image")


def _run(argv: list[str], log: Callable[[str], None], **kwargs: Any) -> None:
    log("$ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise ImageError(f"`{' '.join(argv[:3])} ...` failed with exit code {done.returncode}:\n{tail}")


def rootfs_dir(name: str) -> Path:
    return cache_dir() / "rootfs" / f"{name}-{recipe_hash(name)}"


def build_rootfs(name: str, log: Callable[[str], None]) -> Path:
    """The cached root filesystem of image `name`, built (debootstrap or parent copy + apt) when missing."""
    recipe = get_recipe(name)
    target = rootfs_dir(name)
    if target.exists():
        return target
    if os.geteuid() != 0:
        raise ImageError("building sandbox images needs root (debootstrap, chroot); run `sudo verigym sandbox build`")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        if recipe.parent is None:
            if not shutil.which("debootstrap"):
                raise ImageError(
                    "debootstrap is not installed; run `verigym sandbox setup` (or apt-get install debootstrap)"
                )
            include = ",".join(recipe.packages)
            _run(
                ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(work / "root"), apt_mirror()],
                log,
            )
        else:
            parent = build_rootfs(recipe.parent, log)
            _run(["cp", "-a", "--reflink=auto", str(parent), str(work / "root")], log)
            _apt_install(work / "root", recipe.packages, log)
        _slim(work / "root")
        (work / "root").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _apt_install(root: Path, packages: tuple[str, ...], log: Callable[[str], None]) -> None:
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    env = {"PATH": IMAGE_PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    _run(["chroot", str(root), "apt-get", "update", "-qq"], log, env=env)
    _run(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], log, env=env)
    policy.unlink()


def _slim(root: Path) -> None:
    for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for child in (root / sub).glob("*"):
            if child.is_file():
                child.unlink()
    (root / "etc" / "resolv.conf").write_text("")


def docker_client(timeout: int = 120) -> Any:
    """A docker SDK client, or an ImageError saying how to get an engine."""
    try:
        import docker
    except ImportError as exc:
        raise ImageError("the docker SDK is missing; pip install 'verigym[docker]'") from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise ImageError(f"no Docker engine answers ({exc}); run `verigym sandbox setup` to start one") from exc
    return client


def image_exists(client: Any, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(
    name: str,
    client: Any = None,
    force: bool = False,
    dockerfile: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Build image `name` (skipped when its content-hash tag exists, unless `force`)."""
    start = time.monotonic()
    recipe = get_recipe(name)
    client = client or docker_client()
    tag = image_tag(name)
    if image_exists(client, tag) and not force:
        return BuildResult(name, tag, True, time.monotonic() - start)
    dockerfile = dockerfile or recipe.dockerfile
    if dockerfile:
        log(f"building {tag} from {dockerfile}")
        client.images.build(path=str(Path(dockerfile).parent), dockerfile=Path(dockerfile).name, tag=tag, rm=True)
        return BuildResult(name, tag, False, time.monotonic() - start, [f"built from {dockerfile}"])
    root = build_rootfs(name, log)
    repository, _, version = tag.partition(":")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], log)
        log(f"docker import -> {tag}")
        client.api.import_image_from_file(
            str(tarball),
            repository=repository,
            tag=version,
            changes=[f"ENV PATH={IMAGE_PATH}", f"LABEL verigym.image={name} verigym.recipe={version}"],
        )
    if recipe.parent is not None:
        shutil.rmtree(root, ignore_errors=True)  # only the base rootfs is worth keeping as a parent cache
    return BuildResult(name, tag, False, time.monotonic() - start)
