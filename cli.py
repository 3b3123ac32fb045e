"""The `verigym` command line: each sub-package contributes its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Modules exposing `add_commands(subparsers)`; each command sets `func(args) -> int`.
COMMAND_MODULES = (
    "verigym.plugins.cli",
    "verigym.agents.cli",
    "verigym.envs.sql.cli",
    "verigym.sandbox.cli",
    "verigym.trainer.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(prog="verigym", description="RL for LLM agents against verifiable environments.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `verigym` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (LookupError, ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"verigym {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
