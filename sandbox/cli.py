"""`verigym sandbox build | doctor | setup | reap`."""

from __future__ import annotations

import argparse
import json
import sys

from verigym.sandbox.errors import SandboxError


def add_commands(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sandbox", help="build sandbox images, check and set up the sandbox backends")
    commands = parser.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)

    p = commands.add_parser("build", help="build sandbox images offline (debootstrap + docker import)")
    p.add_argument("names", nargs="*", help="image recipes to build (default: all)")
    p.add_argument("--force", action="store_true", help="rebuild even when the content-hash tag exists")
    p.add_argument("--dockerfile", help="build NAME from this Dockerfile instead (needs a reachable registry)")
    p.set_defaults(func=cmd_build)

    p = commands.add_parser("doctor", help="report the engine, images, backend in force and isolation")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)

    p = commands.add_parser("setup", help="install bubblewrap/debootstrap/docker.io, start dockerd, build images")
    p.add_argument("--images", default="all", help="comma-separated images to build, 'all' or 'none' (default: all)")
    p.add_argument("--strict", action="store_true", help="exit non-zero when Docker or bubblewrap cannot be set up")
    p.set_defaults(func=cmd_setup)

    p = commands.add_parser("reap", help="remove sandboxes left behind by crashed processes")
    p.set_defaults(func=cmd_reap)


def _log(line: str) -> None:
    print(line, flush=True)


def _build(names: list[str], force: bool = False, dockerfile: str | None = None) -> int:
    from verigym.sandbox.images import build_image, docker_client, load_recipes

    recipes = load_recipes()
    names = names or sorted(recipes, key=lambda n: (recipes[n].parent is not None, n))
    if dockerfile and len(names) != 1:
        raise ValueError("--dockerfile builds exactly one image; name it")
    client = docker_client()
    for name in names:
        result = build_image(name, client, force=force, dockerfile=dockerfile, log=lambda s: _log("  " + s))
        verb = "exists" if result.skipped else f"built in {result.seconds:.0f} s"
        _log(f"image {name}: {result.tag} {verb}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    return _build(args.names, args.force, args.dockerfile)


def doctor_report() -> dict:
    """Everything `verigym sandbox doctor` prints, as a dict."""
    from verigym.sandbox.choose import backend_summary
    from verigym.sandbox.hostsetup import docker_answers
    from verigym.sandbox.images import docker_client, image_exists, image_tag, load_recipes
    from verigym.sandbox.local import LocalBackend

    report: dict = {}
    problem = docker_answers()
    report["docker_engine"] = "answers" if problem is None else f"unavailable: {problem}"
    images = {}
    if problem is None:
        client = docker_client()
        for name in sorted(load_recipes()):
            tag = image_tag(name)
            images[name] = {"tag": tag, "built": image_exists(client, tag)}
        client.close()
    report["images"] = images
    try:
        local = LocalBackend()
        report["local"] = {"isolation": local.isolation.describe(), "why": local.reason}
    except SandboxError as exc:
        report["local"] = {"error": str(exc)}
    if problem is None:
        from verigym.sandbox.docker_backend import DockerBackend

        try:
            report["docker"] = {"isolation": DockerBackend(reap=False).isolation.describe()}
        except SandboxError as exc:
            report["docker"] = {"error": str(exc)}
    report["auto"] = backend_summary("auto")
    return report


def cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"docker engine : {report['docker_engine']}")
    for name, image in report["images"].items():
        print(
            f"image {name:<8}: {image['tag']} {'built' if image['built'] else 'NOT BUILT (verigym sandbox build ' + name + ')'}"
        )
    for backend in ("local", "docker"):
        if backend in report:
            entry = report[backend]
            print(f"{backend:<14}: {entry.get('isolation') or 'unavailable: ' + entry['error']}")
    auto = report["auto"]
    print(f"auto          : {auto['backend']} ({auto['reason']})")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    from verigym.sandbox.hostsetup import ensure_dockerd, install_packages
    from verigym.sandbox.local import LocalBackend

    install_packages(_log)
    ok = True
    try:
        _log(f"local: {LocalBackend(isolation='bubblewrap').isolation.describe()}")
    except SandboxError as exc:
        ok = False
        _log(f"local: bubblewrap cannot start: {exc}")
    if not ensure_dockerd(_log):
        _log("docker: Docker tests will be skipped (reason printed by pytest)")
        return 1 if args.strict else 0
    if args.images != "none":
        names = [] if args.images == "all" else [n.strip() for n in args.images.split(",") if n.strip()]
        try:
            _build(names)
        except SandboxError as exc:
            _log(f"images: build failed: {exc}")
            ok = False
    return 0 if ok or not args.strict else 1


def cmd_reap(args: argparse.Namespace) -> int:
    from verigym.sandbox import local

    removed = local.reap_orphans()
    from verigym.sandbox.hostsetup import docker_answers

    if docker_answers() is None:
        from verigym.sandbox.docker_backend import reap_orphans
        from verigym.sandbox.images import docker_client

        removed += reap_orphans(docker_client())
    print(f"removed {len(removed)} orphaned sandbox(es)", file=sys.stderr)
    for item in removed:
        print(item)
    return 0
