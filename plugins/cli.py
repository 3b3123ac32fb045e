"""`verigym list`: every env, sandbox backend and policy with the plugin that provided it."""

from __future__ import annotations

import argparse
import json

from verigym.plugins.registry import get_registry


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered envs, sandbox backends and policies")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    tables = {"envs": registry.envs, "sandboxes": registry.sandboxes, "policies": registry.policies}
    if args.json:
        payload = {
            title: [
                {"name": name, "plugin": kind.entries[name].plugin, "description": kind.entries[name].spec.description}
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
            print(f"  {name:<{width}}  {origin:<36}  {entry.spec.description}")
    return 0
