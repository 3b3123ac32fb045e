"""Validation figures for code-python-v0: the reference passes its hidden tests, mutants are caught.

    python -m verigym.envs.code_python.validate --seeds 2000            # reference through the real harness
    python -m verigym.envs.code_python.validate --seeds 2000 --sandbox local

`--sandbox none` (default) runs the real harness and the real host-side parsing/comparison in a plain host
subprocess (`HostSession`: no isolation, so only for our own reference code); `local`/`docker` run each
grading in a fresh sandbox session. Mutants are checked in-process against the stored expected values.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from verigym.envs.code_python.generator import generate_task, mutant_caught, problem_for
from verigym.envs.code_python.grading import GradingConfig
from verigym.envs.code_python.templates import TEMPLATES
from verigym.envs.code_python.verifier import grade
from verigym.sandbox.records import ExecResult, Status


class HostSession:
    """Runs harness commands as plain host subprocesses (NO sandbox): for trusted reference code only."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def exec(self, argv: list[str], *, timeout: float | None = None, stdin: str | bytes | None = None, **_: Any) -> ExecResult:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        self.calls.append({"argv": argv, "stdin": data})
        start = time.monotonic()
        try:
            done = subprocess.run(["/usr/bin/python3", *argv[1:]], input=data, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ExecResult(Status.TIMEOUT, None, None, "", "", False, False, time.monotonic() - start, "timeout")
        status = Status.OK if done.returncode == 0 else Status.ERROR
        return ExecResult(status, done.returncode if done.returncode >= 0 else None,
                          -done.returncode if done.returncode < 0 else None, done.stdout.decode(),
                          done.stderr.decode(), False, False, time.monotonic() - start)


@contextlib.contextmanager
def host_session() -> Iterator[HostSession]:
    yield HostSession()


def reference_figures(seeds: int, sandbox: str, config: GradingConfig) -> dict[str, Any]:
    """Grade each seed's reference as the submission; count how many score `correct` 1."""
    providers = None
    if sandbox == "none":
        opener = host_session
    else:
        from verigym.envs.code_python.env import CodePythonEnv, GRADING_LIMITS
        from verigym.sandbox.provider import SandboxProviders, SandboxSettings

        providers = SandboxProviders(SandboxSettings(backend=sandbox, pool_size=2))
        provider = providers.provider(CodePythonEnv.sandbox_requirements, GRADING_LIMITS)
        opener = provider.session
    failures: list[str] = []
    start = time.perf_counter()
    try:
        for seed in range(seeds):
            task = generate_task(seed)
            verdict = grade(task, task.reference, opener, config)
            if not verdict.passed:
                failures.append(f"{task.task_id}: {verdict.details}")
    finally:
        if providers is not None:
            providers.close()
    return {"seeds": seeds, "passed": seeds - len(failures), "failures": failures[:10],
            "seconds": round(time.perf_counter() - start, 1)}


def mutant_figures(seeds: int, report: Any = None) -> dict[str, float]:
    """Per template: the fraction of `seeds` seeds whose hidden tests catch the template's mutant
    (`report(name, rate)` is called as each template finishes)."""
    out: dict[str, float] = {}
    for template in TEMPLATES:
        caught = Counter()
        for seed in range(seeds):
            task = generate_task(seed, templates=(template.name,))
            _, problem = problem_for(seed, templates=(template.name,))
            caught[mutant_caught(task, problem.mutant)] += 1
        out[template.name] = caught[True] / seeds
        if report is not None:
            report(template.name, out[template.name])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--mutant-seeds", type=int, default=2000)
    parser.add_argument("--sandbox", default="none", choices=["none", "local", "docker"])
    args = parser.parse_args()
    if args.seeds:
        figures = reference_figures(args.seeds, args.sandbox, GradingConfig())
        print(f"reference ({args.sandbox}): {figures['passed']}/{figures['seeds']} seeds correct in {figures['seconds']} s")
        for failure in figures["failures"]:
            print("  FAILED", failure)
    if args.mutant_seeds:
        def report(name: str, rate: float) -> None:
            print(f"mutant {name:18s} caught on {rate:6.1%} of {args.mutant_seeds} seeds", flush=True)

        mutants = mutant_figures(args.mutant_seeds, report)
        print(f"lowest mutant catch rate: {min(mutants.values()):.1%}")


if __name__ == "__main__":
    main()
