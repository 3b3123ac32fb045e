"""Check every curated reference (and some compositions) in the grading harness on many seeds.

For each problem: the reference runs in the sandbox harness for `seeds` seeds (batched, trusted code only),
and every output must be finite, every seed must give the same output shapes, each seed must be
reproducible (its first seed is run twice, byte-identical), and different seeds must give different inputs.
With `--oracle`, each hand-written solution is graded on those seeds too. bfloat16 problems are skipped on the
CPU (the interpreter has no bf16).

    python -m verigym.envs.kernels.validate [--seeds 50] [--composed 10] [--oracle] [--backend local]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

from verigym.envs.kernels.compose import compose
from verigym.envs.kernels.env import KernelsEnv
from verigym.envs.kernels.grading import ReferenceRun, run_candidate, run_references
from verigym.envs.kernels.oracle import oracle_names, oracle_source
from verigym.envs.kernels.problem import Problem, curated_problems
from verigym.envs.kernels.static_check import check_source
from verigym.envs.kernels.verifier import grade
from verigym.sandbox.provider import SandboxProviders, SandboxSettings

BATCH = 8  # problems per harness process


@dataclass(frozen=True)
class ProblemCheck:
    name: str
    problems: tuple[str, ...]  # empty when the reference is sound on every seed

    @property
    def ok(self) -> bool:
        return not self.problems


def check_reference(problem: Problem, run: ReferenceRun, seeds: list[int]) -> ProblemCheck:
    """The soundness findings for one problem's reference run over `seeds` (first seed repeated at the end)."""
    found = []
    trials = run.trials
    if [t.seed for t in trials] != [*seeds, seeds[0]]:
        found.append("results for the wrong seeds")
    shapes = {tuple((o.dtype, o.shape) for o in t.outputs) for t in trials}
    if len(shapes) != 1:
        found.append(f"output shapes/dtypes vary across seeds: {sorted(shapes)}")
    for t in trials:
        for i, out in enumerate(t.outputs):
            values = out.to_torch().double()
            if values.numel() and not bool(values.isfinite().all()):
                found.append(f"seed {t.seed}: output {i} has non-finite values")
                break
        if t.work <= 0:
            found.append(f"seed {t.seed}: the reference did no torch compute work")
    if trials and [o.data for o in trials[0].outputs] != [o.data for o in trials[-1].outputs]:
        found.append(f"seed {seeds[0]} is not reproducible")
    if len(trials) > 2 and trials[0].inputs[0].data == trials[1].inputs[0].data:
        found.append("different seeds gave the same inputs")
    return ProblemCheck(problem.name, tuple(dict.fromkeys(found)))


def validate(seeds: int, composed: int, oracle: bool, backend: str, device: str = "cpu",
             batch: int = BATCH) -> list[ProblemCheck]:
    """Check every curated reference (+ `composed` compositions) on `seeds` seeds; one ProblemCheck each."""
    problems = [p for p in curated_problems() if not (device == "cpu" and p.dtype == "bfloat16")]
    problems += [compose(seed) for seed in range(composed)]
    seed_list = [1000 + 7919 * i for i in range(seeds)]
    checks = []
    with SandboxProviders(SandboxSettings(backend=backend, pool_size=2)) as providers:
        provider = providers.provider(KernelsEnv.sandbox_requirements, KernelsEnv.sandbox_limits)
        for start in range(0, len(problems), batch):
            chunk = problems[start : start + batch]
            with provider.session() as session:
                runs = run_references(session, [(p.source, (*seed_list, seed_list[0])) for p in chunk], device, None,
                                      1800.0)
            for problem, run in zip(chunk, runs, strict=True):
                check = check_reference(problem, run, seed_list)
                if oracle and problem.name in oracle_names() and problem.origin == "curated":
                    source = oracle_source(problem.name)
                    with provider.session() as session:
                        candidate = run_candidate(session, source, run, device, None, 1800.0)
                    verdict = grade(check_source(source), run, candidate, device)
                    if not verdict.passed:
                        check = ProblemCheck(check.name, (*check.problems, "oracle failed: " +
                                                          verdict.details["feedback"][-500:]))
                checks.append(check)
                print(f"{'ok  ' if check.ok else 'FAIL'} {problem.name}" + "".join(f"\n     {p}" for p in check.problems),
                      flush=True)
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--composed", type=int, default=10)
    parser.add_argument("--oracle", action="store_true", help="also grade each hand-written solution on the seeds")
    parser.add_argument("--backend", default="local")
    args = parser.parse_args(argv)
    start = time.monotonic()
    checks = validate(args.seeds, args.composed, args.oracle, args.backend)
    bad = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(bad)}/{len(checks)} problems sound on {args.seeds} seeds "
          f"({math.ceil(time.monotonic() - start)} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
