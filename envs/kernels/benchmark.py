"""CPU grading latency of `triton-kernels-v0` per task size, beside running the reference alone (same run).

One sample of "grade" is what a submission costs on the CPU: a fresh local sandbox session, the harness
importing torch + triton, the oracle's kernels under TRITON_INTERPRET=1 on every trial, the raw bytes read back
and compared on the host. The baseline sample is the reference alone through the same harness in a fresh
session. Rows carry p50/p99 wall seconds (and the harness's CPU seconds); `ops_per_s` is 1/p50.

    python -m verigym.envs.kernels.benchmark [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from verigym.envs.kernels.compare import compare_outputs
from verigym.envs.kernels.env import KernelsEnv
from verigym.envs.kernels.grading import run_candidate, run_reference
from verigym.envs.kernels.oracle import oracle_source
from verigym.envs.kernels.problem import apply_overrides
from verigym.envs.kernels.task import curated_task
from verigym.sandbox.provider import SandboxProviders, SandboxSettings

ENV_ID = "triton-kernels-v0"
TRIALS = 3
#: (label, problem, shape overrides): the curated CPU shapes, and 4x / 16x larger work
SIZES = (
    ("small", "relu", {}),
    ("medium", "relu", {"dim": 1024}),
    ("large", "relu", {"dim": 4096}),
    ("small", "softmax", {}),
    ("medium", "softmax", {"batch_size": 64}),
    ("small", "matmul", {}),
    ("medium", "matmul", {"N": 128}),
)


def throughput(seconds: float = 20.0, sizes: tuple = SIZES) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, baseline, baseline_ops_per_s, p50_s, p99_s, ...}; each side of each size
    samples for about `seconds` (at least 2 samples)."""
    rows = []
    with SandboxProviders(SandboxSettings(backend="local", pool_size=1)) as providers:
        provider = providers.provider(KernelsEnv.sandbox_requirements, KernelsEnv.sandbox_limits)
        for label, name, overrides in sizes:
            task = curated_task(name, trials=TRIALS)
            source = apply_overrides(task.source, overrides)
            solution = oracle_source(name)

            def reference_alone():
                with provider.session() as session:
                    return run_reference(session, source, task.trial_seeds, "cpu", None, 600.0)

            reference = reference_alone()

            def grade_once():
                with provider.session() as session:
                    run = run_candidate(session, solution, reference, "cpu", None, 600.0)
                assert run.stage == "ok", run.error
                for want, got in zip(reference.trials, run.trials, strict=True):
                    assert all(c.ok for c in compare_outputs(got.outputs, want.outputs))
                return run

            grade = _samples(grade_once, seconds)
            base = _samples(reference_alone, seconds)
            shape = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "curated shape"
            rows.append({
                "env": ENV_ID,
                "case": f"grade oracle {name} {label} ({shape}, {TRIALS} trials) p50 {grade['p50']:.2f}s "
                        f"p99 {grade['p99']:.2f}s",
                "ops_per_s": 1.0 / grade["p50"],
                "baseline": f"reference alone p50 {base['p50']:.2f}s p99 {base['p99']:.2f}s",
                "baseline_ops_per_s": 1.0 / base["p50"],
                "p50_s": grade["p50"], "p99_s": grade["p99"], "cpu_s": grade["cpu"],
                "baseline_p50_s": base["p50"], "baseline_p99_s": base["p99"], "baseline_cpu_s": base["cpu"],
                "samples": grade["n"],
            })
    return rows


def _samples(op, seconds: float) -> dict[str, float]:
    walls, cpus = [], []
    start = time.monotonic()
    while len(walls) < 2 or time.monotonic() - start < seconds:
        t0 = time.monotonic()
        run = op()
        walls.append(time.monotonic() - t0)
        cpus.append(run.cpu_s)
    walls.sort()
    p99 = walls[min(len(walls) - 1, round(0.99 * (len(walls) - 1)))]
    return {"p50": statistics.median(walls), "p99": p99, "cpu": statistics.median(cpus), "n": len(walls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    print(f"{'case':<78} {'p50 s':>7} {'p99 s':>7} {'cpu s':>6} | {'ref p50':>7} {'ref p99':>7} {'ref cpu':>7} {'ratio':>6}")
    for r in throughput(args.seconds):
        case = r["case"].split(" p50 ")[0]
        print(f"{case:<78} {r['p50_s']:7.2f} {r['p99_s']:7.2f} {r['cpu_s']:6.2f} | {r['baseline_p50_s']:7.2f} "
              f"{r['baseline_p99_s']:7.2f} {r['baseline_cpu_s']:7.2f} {r['p50_s'] / r['baseline_p50_s']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
