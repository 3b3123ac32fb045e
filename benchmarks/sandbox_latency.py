"""Sandbox latency and throughput, both backends, one run: `python benchmarks/sandbox_latency.py`.

Rows: fresh-process exec (local: a throw-away bubblewrap sandbox per command; docker: one `docker exec` per
action, the baseline), warm-session exec (the worker in a live session), cold session create, pool acquire,
file write+read round trip, episode start (a sandboxed env's `reset()`, which takes a fresh session from
its provider) on a pool hit (a warm session was ready) and on a pool miss (the pool was drained, so the
episode waits for a new session), and exec throughput with 1, 2 and 8 concurrent sessions. The command run
is `true`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

from verigym.sandbox.pool import WarmPool
from verigym.sandbox.records import Limits


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def throughput(backend, concurrency: int, seconds: float) -> float:
    sessions = [backend.open() for _ in range(concurrency)]
    counts = [0] * concurrency
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            assert sessions[i].exec(["true"]).ok
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for s in sessions:
        s.close()
    return sum(counts) / elapsed


def measure(backend, n: int) -> dict[str, object]:
    rows: dict[str, object] = {}
    session = backend.open()
    assert session.exec(["true"]).ok
    if backend.name == "local":
        rows["fresh-process exec"] = timed(lambda: backend.run_once(["true"]), n // 4)
    else:
        rows["fresh-process exec"] = timed(lambda: backend.docker_exec(session, ["true"]), n // 4)
    rows["warm-session exec"] = timed(lambda: session.exec(["true"]), n)
    payload = os.urandom(4096)

    def round_trip() -> None:
        session.write_file("bench.bin", payload)
        assert session.read_file("bench.bin") == payload

    rows["file write+read (4 KiB)"] = timed(round_trip, n)
    session.close()
    cold = []
    for _ in range(max(n // 10, 10)):
        start = time.perf_counter()
        s = backend.open()
        cold.append((time.perf_counter() - start) * 1000)
        s.close()
    rows["session create (cold)"] = cold
    with WarmPool(backend.open, size=2, max_concurrent_creates=2) as pool:
        acquires = []
        for _ in range(20):
            pool.wait_ready()
            start = time.perf_counter()
            s = pool.acquire()
            acquires.append((time.perf_counter() - start) * 1000)
            pool.release(s)
        rows["pool acquire"] = acquires
    hit, miss = episode_starts(backend.name, max(n // 10, 10))
    rows["episode start (pool hit)"] = hit
    rows["episode start (pool miss)"] = miss
    for k in (1, 2, 8):
        rows[f"throughput, {k} sessions"] = throughput(backend, k, 3.0)
    return rows


class _StartEnv:
    """Just enough of a sandboxed env to time `reset()` through the real lifecycle."""

    @staticmethod
    def build():
        from verigym.envs import Rubric, Task, TextEnv
        from verigym.sandbox.records import Requirements

        class StartEnv(TextEnv[Task]):
            env_id = "bench-start-v0"
            sandbox_requirements = Requirements()

            def build_rubric(self):
                return Rubric.from_verdict({"correct": 1.0})

            def generate_task(self, seed):
                return Task(task_id=str(seed), seed=seed)

            def opening_messages(self, task):
                return [{"role": "user", "content": "hi"}]

            def on_turn(self, action):  # never stepped: only reset() is timed
                raise NotImplementedError("the start-latency env is never stepped")

            def oracle_action(self):
                return ""

        return StartEnv


def episode_starts(backend_name: str, n: int) -> tuple[list[float], list[float]]:
    """`reset()` latency of a sandboxed env with a warm session ready (hit) and with the pool drained (miss)."""
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings

    env_cls = _StartEnv.build()
    hits, misses = [], []
    with SandboxProviders(SandboxSettings(backend=backend_name, pool_size=2)) as providers:
        provider = providers.provider(env_cls.sandbox_requirements)
        for i in range(n):
            provider.pool.wait_ready()
            env = env_cls()
            env.use_sandboxes(providers)
            start = time.perf_counter()
            env.reset(seed=i)
            hits.append((time.perf_counter() - start) * 1000)
            held = [provider.acquire() for _ in range(provider.pool.ready())]  # drain what is ready
            other = env_cls()
            other.use_sandboxes(providers)
            start = time.perf_counter()
            other.reset(seed=i)
            misses.append((time.perf_counter() - start) * 1000)
            for session in held:
                provider.release(session)
            env.close()
            other.close()
    return hits, misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="samples per latency row")
    parser.add_argument("--backends", default="local,docker")
    args = parser.parse_args()
    limits = Limits(timeout_s=10)
    results: dict[str, dict[str, object]] = {}
    notes = []
    for name in args.backends.split(","):
        try:
            if name == "local":
                from verigym.sandbox.local import LocalBackend

                backend = LocalBackend(limits)
            else:
                from verigym.sandbox.docker_backend import DockerBackend

                backend = DockerBackend(limits)
                backend.image_for(__import__("verigym.sandbox.records", fromlist=["Requirements"]).Requirements())
        except Exception as exc:  # report a backend that cannot run instead of aborting the whole table
            notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
            continue
        notes.append(f"{name}: {backend.isolation.describe()}")
        results[name] = measure(backend, args.n)
    names = list(results)
    rows = list(next(iter(results.values()))) if results else []
    print(f"{'metric':<28}" + "".join(f"{n + ' p50':>14}{n + ' p99':>14}" for n in names))
    for row in rows:
        cells = ""
        for name in names:
            value = results[name][row]
            if isinstance(value, list):
                cells += f"{pct(value, 0.5):>11.2f} ms{pct(value, 0.99):>11.2f} ms"
            else:
                cells += f"{value:>10.0f} /s {'':>13}"
        print(f"{row:<28}{cells}")
    if "docker" in results:
        warm = statistics.median(results["docker"]["warm-session exec"])
        baseline = statistics.median(results["docker"]["fresh-process exec"])
        print(
            f"\ndocker: warm-session exec / docker exec per action = {warm:.2f} / {baseline:.2f} ms = {warm / baseline:.3f}"
            f" ({baseline / warm:.0f}x faster)"
        )
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
