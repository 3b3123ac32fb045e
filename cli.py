"""The `verigym` command line: each sub-package contributes its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from verigym.plugins.extras import explain_missing_module

# Modules exposing `add_commands(subparsers)`; each command sets `func(args) -> int`.
COMMAND_MODULES = (
    "verigym.plugins.cli",
    "verigym.agents.cli",
    "verigym.envs.sql.cli",
    "verigym.sandbox.cli",
    "verigym.trainer.cli",
    "verigym.integrations.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser. A command module whose optional packages are missing is left out with a
    note naming the extra, so the other commands still work on a bare install."""
    parser = argparse.ArgumentParser(prog="verigym", description="RL for LLM agents against verifiable environments.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        try:
            importlib.import_module(module).add_commands(sub)
        except ModuleNotFoundError as exc:
            if (exc.name or "verigym").split(".")[0] == "verigym":
                raise
            print(f"verigym: the commands of {module} are unavailable: {explain_missing_module(exc, module)}", file=sys.stderr)
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
    except ModuleNotFoundError as exc:  # an optional package: say which extra brings it
        if (exc.name or "verigym").split(".")[0] == "verigym":
            raise
        print(f"verigym {args.command}: error: {explain_missing_module(exc, f'verigym {args.command}')}", file=sys.stderr)
        return 1
    except (ImportError, LookupError, ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"verigym {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
