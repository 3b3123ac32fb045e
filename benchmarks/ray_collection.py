"""Episodes/s through Ray env workers (1 and 2 actors) beside in-process collection, in the same run:
`python benchmarks/ray_collection.py [--quick] [--address auto]`.

The policy costs nothing (scripted answers), so the rows measure where env steps run and what moving them costs:

- `cpu`: a synthetic env whose every step burns `--cpu-ms` of pure-Python CPU (a verifier, a simulator): the
  in-process collector's threads share one GIL, Ray actors are separate processes, so Ray can scale with workers
  up to the cores it gets.
- `beam-statics-v0`: a real, cheap env with the oracle policy, which consults the live env each turn (one
  extra remote call per turn through Ray): the per-call overhead of remote envs.

Actor start-up is timed apart and excluded from episodes/s; every configuration is warmed up once first.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass

from verigym.agents.collect import collect
from verigym.agents.policy import Completion
from verigym.agents.scripted import OraclePolicy
from verigym.envs import Rubric, Task, TextEnv, TurnResult, Verdict, format_answer, format_tool_call


@dataclass(frozen=True)
class CpuTask(Task):
    cpu_ms: float = 0.0


class CpuEnv(TextEnv[CpuTask]):
    """Three turns (two tool calls, then the answer); each step burns `cpu_ms` of CPU in Python."""

    env_id = "bench-cpu-v0"
    task_type = CpuTask
    cpu_ms = 20.0

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"correct": 1.0})

    def generate_task(self, seed: int) -> CpuTask:
        return CpuTask(task_id=str(seed), seed=seed, cpu_ms=self.cpu_ms)

    def opening_messages(self, task: CpuTask) -> list[dict[str, str]]:
        return [{"role": "user", "content": "work, work, answer"}]

    def on_turn(self, action: str) -> TurnResult:
        end = time.thread_time() + self.task.cpu_ms / 1000
        x = 0
        while time.thread_time() < end:
            for i in range(2000):
                x ^= i * i
        if self.turn < 3:
            return TurnResult([{"role": "tool", "content": "ok"}])
        return TurnResult([{"role": "user", "content": "done"}], True, Verdict(True, 1.0, {"correct": 1.0}))

    def oracle_action(self) -> str:
        return format_tool_call("work", {}) if self.turn < 2 else format_answer("done")


class TurnScript:
    """Two tool calls, then the answer, read off the conversation (never consults the env)."""

    name = "script"

    def generate(self, requests, sampling):
        turns = [sum(m["role"] == "assistant" for m in r.messages) for r in requests]
        return [Completion(format_tool_call("work", {}) if t < 2 else format_answer("done")) for t in turns]


def cpu_env(cpu_ms: float) -> type[CpuEnv]:
    return type("CpuEnvMs", (CpuEnv,), {"cpu_ms": cpu_ms, "__module__": __name__})


def timed(env, policy, n: int, concurrency: int, workers=None) -> tuple[float, int]:
    """(seconds, successes) of one collection of `n` episodes."""
    collect(env, policy, range(n, n + concurrency), concurrency=concurrency, workers=workers)  # warm-up
    start = time.perf_counter()
    records = collect(env, policy, range(n), concurrency=concurrency, workers=workers)
    return time.perf_counter() - start, sum(r.success for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer episodes")
    parser.add_argument("--episodes", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cpu-ms", type=float, default=20.0, help="CPU per step of the cpu env")
    parser.add_argument("--address", default=None, help="join this Ray cluster (default: start one here)")
    args = parser.parse_args()

    import ray

    from verigym.agents.ray_workers import RayEnvWorkers, RaySettings

    started = time.perf_counter()
    if args.address:
        ray.init(address=args.address, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=max(2, os.cpu_count() or 1), include_dashboard=False, logging_level=logging.WARNING)
    print(f"ray.init {time.perf_counter() - started:.1f} s; cluster CPUs {ray.cluster_resources().get('CPU', 0):g}; "
          f"host cores {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    n_cpu = args.episodes or (32 if args.quick else 96)
    n_beam = args.episodes or (64 if args.quick else 256)
    cases = [(f"cpu ({args.cpu_ms:g} ms/step)", cpu_env(args.cpu_ms), TurnScript(), n_cpu),
             ("beam-statics-v0 (oracle)", "beam-statics-v0", OraclePolicy(), n_beam)]
    rows = []
    for label, env, policy, n in cases:
        seconds, ok = timed(env, policy, n, args.concurrency)
        base = n / seconds
        rows.append((label, "in-process", "-", n, ok, seconds, base, 1.0))
        for count in (1, 2):
            t0 = time.perf_counter()
            with RayEnvWorkers(RaySettings(workers=count, num_cpus=0), concurrency=args.concurrency) as workers:
                start_s = time.perf_counter() - t0
                seconds, ok = timed(env, policy, n, args.concurrency, workers)
            rows.append((label, f"ray x{count}", f"{start_s:.1f}", n, ok, seconds, n / seconds, n / seconds / base))
    print(f"\nconcurrency {args.concurrency}; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    header = ("env", "backend", "actor start s", "episodes", "succeeded", "wall s", "episodes/s", "vs in-process")
    table = [header] + [(a, b, c, str(d), str(e), f"{f:.2f}", f"{g:.1f}", f"{h:.2f}x") for a, b, c, d, e, f, g, h in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    ray.shutdown()


if __name__ == "__main__":
    main()
