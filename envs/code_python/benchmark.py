"""Grading throughput of `code-python-v0` per sandbox backend, beside a bare `python3 -c` run of the same tests.

A grading is what `<answer>` costs: a fresh session from the warm pool, the candidate's harness run on the
hidden tests, the reference's timing run, the host-side comparison. The candidate is the reference (the
slowest path: every test passes, so the reference run happens too). The baseline runs the same reference on
the same tests as one plain host `python3 -c` process (no sandbox, no harness, no checking). Rates are
wall-clock (the work happens in other processes); p50/p99 are per grading. `throughput()` returns rows for
`benchmarks/env_throughput.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Any

from verigym.envs.code_python.generator import generate_task
from verigym.envs.code_python.task import CodeTask
from verigym.envs.code_python.verifier import grade

ENV_ID = "code-python-v0"
BACKENDS = ("local", "docker")


def throughput(seconds: float = 2.0, backends: tuple[str, ...] = BACKENDS) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, baseline, baseline_ops_per_s, p50_s, p99_s, baseline_p50_s, baseline_p99_s}."""
    tasks = [generate_task(seed) for seed in range(50)]
    rows = []
    for backend in backends:
        latencies = _gradings(backend, tasks, seconds)
        if latencies is None:
            continue
        bare = _timed(lambda task: _bare_run(task), tasks, seconds)
        rows.append({
            "env": ENV_ID,
            "case": f"grading in a fresh {backend} session (p50 {_ms(latencies, 50)}, p99 {_ms(latencies, 99)})",
            "ops_per_s": len(latencies) / sum(latencies),
            "baseline": f"bare python3 -c, same tests (p50 {_ms(bare, 50)}, p99 {_ms(bare, 99)})",
            "baseline_ops_per_s": len(bare) / sum(bare),
            "p50_s": _pct(latencies, 50), "p99_s": _pct(latencies, 99),
            "baseline_p50_s": _pct(bare, 50), "baseline_p99_s": _pct(bare, 99),
        })
    return rows


def _gradings(backend: str, tasks: list[CodeTask], seconds: float) -> list[float] | None:
    from verigym.envs.code_python.env import GRADING_LIMITS, CodePythonEnv
    from verigym.sandbox.errors import SandboxUnavailableError
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings

    env = CodePythonEnv()
    try:
        providers = SandboxProviders(SandboxSettings(backend=backend, pool_size=2))
        provider = providers.provider(CodePythonEnv.sandbox_requirements, GRADING_LIMITS)
        provider.pool.acquire(timeout=120).close()  # warm the pool before timing
    except (SandboxUnavailableError, TimeoutError, Exception) as exc:  # noqa: BLE001 - report and skip the backend
        print(f"{ENV_ID} benchmark: skipping {backend}: {exc}")
        return None
    try:
        return _timed(lambda task: grade(task, task.reference, provider.session, env.grading), tasks, seconds)
    finally:
        providers.close()


def _bare_run(task: CodeTask) -> None:
    calls = "\n".join(f"print(repr({task.entry}(*{_literal(t.args)})))" for t in task.hidden)
    subprocess.run(["python3", "-c", task.reference + "\n" + calls], check=True, capture_output=True)


def _literal(args: str) -> str:
    from verigym.envs.code_python import values

    return repr(values.loads(args))


def _timed(op: Any, tasks: list[CodeTask], seconds: float) -> list[float]:
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(latencies) < 3:
        t0 = time.perf_counter()
        op(tasks[len(latencies) % len(tasks)])
        latencies.append(time.perf_counter() - t0)
    return latencies


def _pct(xs: list[float], q: int) -> float:
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


def _ms(xs: list[float], q: int) -> str:
    return f"{_pct(xs, q) * 1000:.0f} ms"


if __name__ == "__main__":
    for row in throughput():
        print(row)
