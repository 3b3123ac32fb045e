"""Validation of every template: the reference passes its own harness, mutants fail, formal agrees with simulation.

    python -m verigym.envs.rtl.validate [--seeds 500] [--mutant-seeds 100] [--formal-seeds 5] [--sandbox local]

Fast path: many (design, testbench) pairs are compiled into one simulation per sandbox call (every module renamed
with a per-item suffix, one testbench root per item, no `$finish`: the run ends when all testbenches are done),
with the same testbench generator, record parser and host comparison as grading. Only trusted designs (the
references and their mutants) go through this path; agent designs always run alone (`harness.simulate`).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from verigym.envs.base import harness_result
from verigym.envs.rtl.env import RtlEnv
from verigym.envs.rtl.formal import prove_equivalent
from verigym.envs.rtl.generator import generate_task, template_names
from verigym.envs.rtl.harness import IVERILOG, rename_module
from verigym.envs.rtl.model import expected_outputs
from verigym.envs.rtl.mutants import mutants
from verigym.envs.rtl.record import Comparison, compare, parse_record
from verigym.envs.rtl.source_check import module_names
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.testbench import bench_files, stimulus_text, testbench
from verigym.envs.rtl.vectors import hidden_vectors
from verigym.envs.verdict import SandboxFailure

BATCH = 60


def batch_check(session, items: Sequence[tuple[RtlTask, str]], timeout_s: float = 300.0) -> list[Comparison]:
    """Simulate every (task, trusted design) pair over its hidden vectors in one run; compare each on the host."""
    designs, benches, plans = [], [], []
    for k, (task, source) in enumerate(items):
        suffix = f"_b{k}"
        for name in module_names(source):
            source = rename_module(source, name, name + suffix)
        bench = bench_files(secrets.token_hex(6))
        vectors = hidden_vectors(task)
        designs.append(source)
        benches.append(testbench(task, len(vectors), bench, finish=False, design_module=task.module + suffix))
        session.write_file(bench.stimulus, stimulus_text(task, vectors))
        plans.append((task, bench, vectors))
    session.write_file("designs.v", "\n".join(designs))
    session.write_file("benches.v", "\n".join(benches))
    roots = [arg for _, bench, _ in plans for arg in ("-s", bench.top)]
    built = harness_result(session.exec([*IVERILOG, "-o", "batch.vvp", *roots, "benches.v", "designs.v"], timeout=timeout_s))
    if not built.ok:
        raise SandboxFailure(f"batch compile failed: {built.stderr[-2000:]}")
    ran = harness_result(session.exec(["vvp", "-n", "batch.vvp"], timeout=timeout_s))
    if not ran.ok:
        raise SandboxFailure(f"batch simulation failed: {ran.status.value} {ran.stderr[-500:]}")
    results = []
    for task, bench, vectors in plans:
        text = session.read_file(bench.record, max_bytes=16 * 1024 * 1024).decode("ascii")
        results.append(compare(task, parse_record(text, task.ports, task.outputs), vectors, expected_outputs(task, vectors)))
    return results


@dataclass
class TemplateReport:
    name: str
    reference_passed: int = 0
    reference_total: int = 0
    mutant_failed: dict[str, list[int]] = field(default_factory=dict)  # mutant -> [failed, total]
    formal_agree: int = 0
    formal_total: int = 0
    disagreements: list[str] = field(default_factory=list)

    def ok(self, min_kill: float = 0.95) -> bool:
        return (self.reference_passed == self.reference_total and self.formal_agree == self.formal_total
                and all(failed >= min_kill * total for failed, total in self.mutant_failed.values()))


def validate_template(session, name: str, seeds: int, mutant_seeds: int, formal_seeds: int) -> TemplateReport:
    report = TemplateReport(name)
    tasks = [generate_task(seed, templates=(name,)) for seed in range(seeds)]
    for start in range(0, len(tasks), BATCH):
        chunk = tasks[start:start + BATCH]
        for task, result in zip(chunk, batch_check(session, [(t, t.reference) for t in chunk])):
            report.reference_total += 1
            report.reference_passed += result.passed
            if not result.passed:
                report.disagreements.append(f"reference fails on seed {task.seed}: {result.mismatches[:1]} {result.problem}")
    mutated = [(task, kind, source) for task in tasks[:mutant_seeds] for kind, source in mutants(task).items()]
    for start in range(0, len(mutated), BATCH):
        chunk = mutated[start:start + BATCH]
        for (task, kind, _), result in zip(chunk, batch_check(session, [(t, s) for t, _, s in chunk])):
            counts = report.mutant_failed.setdefault(kind, [0, 0])
            counts[0] += not result.passed
            counts[1] += 1
    for task in tasks[:formal_seeds]:
        for kind, source in [("reference", task.reference), *mutants(task).items()]:
            simulated = batch_check(session, [(task, source)])[0].passed
            proven = prove_equivalent(session, task, source, task.reference).proven
            report.formal_total += 1
            if task.clocking.sequential and proven and not simulated:
                report.formal_agree += 1  # a bounded proof may miss what the longer simulation finds
                report.disagreements.append(f"seed {task.seed} {kind}: bounded proof passes, simulation fails (expected beyond the bound)")
            elif simulated == proven:
                report.formal_agree += 1
            else:
                report.disagreements.append(f"seed {task.seed} {kind}: simulation {'passes' if simulated else 'fails'}, "
                                            f"formal {'proven' if proven else 'not proven'}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--mutant-seeds", type=int, default=100)
    parser.add_argument("--formal-seeds", type=int, default=5)
    parser.add_argument("--sandbox", default="local")
    parser.add_argument("--templates", nargs="*", default=None)
    args = parser.parse_args(argv)
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings
    from verigym.sandbox.records import Limits

    names = args.templates or template_names()
    limits = Limits(timeout_s=300.0, memory_bytes=2048 * 1024 * 1024, disk_bytes=512 * 1024 * 1024)
    failed = 0
    print(f"{'template':20} {'reference':>11} {'mutants failing (failed/total)':44} {'formal=sim':>11}  time")
    with SandboxProviders(SandboxSettings(backend=args.sandbox, pool_size=1)) as providers:
        provider = providers.provider(RtlEnv.sandbox_requirements, limits)
        for name in names:
            start = time.monotonic()
            with provider.session() as session:
                r = validate_template(session, name, args.seeds, args.mutant_seeds, args.formal_seeds)
            kills = ", ".join(f"{k} {f}/{t}" for k, (f, t) in sorted(r.mutant_failed.items()))
            print(f"{name:20} {r.reference_passed:>5}/{r.reference_total:<5} {kills:44} "
                  f"{r.formal_agree:>5}/{r.formal_total:<5} {time.monotonic() - start:5.1f}s", flush=True)
            for line in r.disagreements[:5]:
                print(f"    {line}")
            failed += not r.ok()
    print("ALL OK" if not failed else f"{failed} template(s) FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
