"""`verigym list` (every env, sandbox backend and policy with the plugin that provided it, and the install
command of any whose extra is missing) and `verigym doctor` (what is usable here; see `plugins/doctor.py`)."""

from __future__ import annotations

import argparse
import json

from verigym.plugins.extras import install_command, missing
from verigym.plugins.registry import get_registry


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered envs, sandbox backends and policies")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("doctor", help="report which parts of verigym are usable here and how to get the rest")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


def missing_extra(spec: object) -> str | None:
    """The install command for the extra `spec` declares when that extra is incomplete here, else None."""
    extra = getattr(spec, "extra", None)
    if extra is None:
        return None
    try:
        return install_command(extra) if missing(extra) else None
    except LookupError:  # an extra this verigym does not declare: nothing to check against
        return None


def cmd_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    tables = {"envs": registry.envs, "sandboxes": registry.sandboxes, "policies": registry.policies}
    if args.json:
        payload = {
            title: [
                {
                    "name": name,
                    "plugin": kind.entries[name].plugin,
                    "description": kind.entries[name].spec.description,
                    "extra": getattr(kind.entries[name].spec, "extra", None),
                    "install": missing_extra(kind.entries[name].spec),
                }
                for name in kind.names()
            ]
            for title, kind in tables.items()
        }
        print(json.dumps(payload, indent=2))
        return 0
    for title, kind in tables.items():
        print(f"{title}:")
        if not kind.entries:
            print("  (none)")
        width = max((len(n) for n in kind.names()), default=0)
        for name in kind.names():
            entry = kind.entries[name]
            dist = registry.plugins.get(entry.plugin, "")
            origin = f"{entry.plugin} [{dist}]" if dist else entry.plugin
            install = missing_extra(entry.spec)
            note = f"  [not installed: {install}]" if install else ""
            print(f"  {name:<{width}}  {origin:<36}  {entry.spec.description}{note}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from verigym.plugins.doctor import print_report, run_checks

    checks = run_checks()
    if args.json:
        print(json.dumps([check.as_dict() for check in checks], indent=2))
    else:
        print_report(checks)
    return 0
