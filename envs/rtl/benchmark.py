"""Grading latency of `rtl-verilog-v0` per sandbox backend, next to a bare iverilog compile + run of the reference.

For each backend: wall-clock of `env.grade(reference)` (fresh grading session, hidden-vector simulation, yosys
interface + synthesis, equivalence proof, reference PPA cached) over generated tasks, p50 and p99. Baseline, in the
same run: the same testbench and vectors compiled with iverilog and run with vvp directly on the host (no sandbox,
no yosys). `throughput()` returns rows for `benchmarks/env_throughput.py`.
"""

from __future__ import annotations

import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from verigym.envs.rtl.env import RtlEnv
from verigym.envs.rtl.generator import generate_task
from verigym.envs.rtl.harness import IVERILOG
from verigym.envs.rtl.testbench import bench_files, stimulus_text, testbench
from verigym.envs.rtl.vectors import hidden_vectors

ENV_ID = "rtl-verilog-v0"


def throughput(seconds: float = 2.0, backends: tuple[str, ...] = ("local", "docker")) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, p50_s, p99_s, baseline, baseline_ops_per_s, baseline_p50_s}; each backend's
    grading is measured for about `seconds` (at least 3 tasks), the bare baseline for as many tasks."""
    rows = []
    for backend in backends:
        times, seeds = _grading_times(backend, seconds)
        if not times:
            rows.append({"env": ENV_ID, "case": f"grade reference ({backend}): backend unavailable", "ops_per_s": 0.0,
                         "baseline": None, "baseline_ops_per_s": None})
            continue
        bare = [_bare_iverilog(seed) for seed in seeds]
        p50, p99, b50, b99 = _pct(times, 50), _pct(times, 99), _pct(bare, 50), _pct(bare, 99)
        rows.append({
            "env": ENV_ID, "case": f"grade reference, {backend} (p50 {p50:.2f} s, p99 {p99:.2f} s)",
            "ops_per_s": len(times) / sum(times), "p50_s": p50, "p99_s": p99,
            "baseline": f"bare iverilog + vvp on the host (p50 {b50:.3f} s, p99 {b99:.3f} s)",
            "baseline_ops_per_s": len(bare) / sum(bare), "baseline_p50_s": b50, "baseline_p99_s": b99,
        })
    return rows


def _grading_times(backend: str, seconds: float) -> tuple[list[float], list[int]]:
    from verigym.sandbox.errors import SandboxError
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings

    try:
        providers = SandboxProviders(SandboxSettings(backend=backend, pool_size=2))
    except (SandboxError, ValueError):
        return [], []
    env = RtlEnv()
    env.use_sandboxes(providers)
    times, seeds = [], []
    try:
        start = time.monotonic()
        seed = 0
        while time.monotonic() - start < seconds or len(times) < 3:
            env.reset(seed=seed)
            t0 = time.perf_counter()
            verdict = env.grade(env.task.reference)
            times.append(time.perf_counter() - t0)
            if not verdict.passed:
                raise AssertionError(f"the reference of seed {seed} failed grading: {verdict.details}")
            seeds.append(seed)
            seed += 1
    except SandboxError:
        return [], []
    finally:
        env.close()
        providers.close()
    return times, seeds


def _bare_iverilog(seed: int) -> float:
    """Seconds to compile and run the reference with the grading testbench, straight on the host."""
    task = generate_task(seed)
    vectors = hidden_vectors(task)
    bench = bench_files(secrets.token_hex(6))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / bench.design).write_text(task.reference)
        (root / bench.stimulus).write_text(stimulus_text(task, vectors))
        (root / bench.testbench).write_text(testbench(task, len(vectors), bench))
        t0 = time.perf_counter()
        subprocess.run([*IVERILOG, "-o", "sim.vvp", "-s", bench.top, bench.testbench, bench.design], cwd=tmp, check=True)
        subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


if __name__ == "__main__":
    for row in throughput():
        print(row)
