"""Verifications/s and full oracle episodes/s per environment family, on one core, beside a baseline.

Each env family may ship `benchmark.py` next to its env module with `throughput(seconds) -> list[dict]`;
rows carry `env, case, ops_per_s, baseline, baseline_ops_per_s` (the baseline is measured in the same run,
so the ratio is meaningful on a noisy machine). Usage:

    python benchmarks/env_throughput.py [--env beam-statics-v0 ...] [--seconds 2]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from verigym.plugins import get_registry


def benchmark_module(entry_point: object) -> str | None:
    """`pkg.family.env:Class` -> `pkg.family.benchmark` (None for callables)."""
    if not isinstance(entry_point, str):
        return None
    module = entry_point.partition(":")[0]
    return module.rpartition(".")[0] + ".benchmark"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="env id (default: every env that ships a benchmark)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measured case")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the targets are stated
    registry = get_registry()
    rows: list[dict] = []
    for env_id in args.env or registry.envs.names():
        name = benchmark_module(registry.envs.get(env_id).spec.entry_point)
        try:
            module = importlib.import_module(name) if name else None
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            module = None
        if module is None:
            if args.env:
                print(f"{env_id}: no benchmark module ({name})", file=sys.stderr)
            continue
        rows += [r for r in module.throughput(args.seconds) if r["env"] == env_id or not args.env]
    case_w = max([len(r["case"]) for r in rows] + [4])
    base_w = max([len(str(r.get("baseline", "-"))) for r in rows] + [8])
    print(f"{'env':<18} {'case':<{case_w}} {'ops/s':>10}  {'baseline':<{base_w}} {'base ops/s':>10} {'ratio':>7}")
    for r in rows:
        base = r.get("baseline_ops_per_s")
        ratio = f"{r['ops_per_s'] / base:7.2f}" if base else "      -"
        base_text = f"{base:10.1f}" if base else "         -"
        print(f"{r['env']:<18} {r['case']:<{case_w}} {r['ops_per_s']:10.1f}  {r.get('baseline', '-'):<{base_w}} {base_text} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
