"""Grading of a submitted design, in a fresh grading session: hierarchical reward (compiles -> functional -> ppa).

- `compiles` (1/0): the source passes the static check and iverilog compiles it with the harness testbench.
- `functional` (1/0): every hidden vector matches (random and directed, several seeds; the count recorded equals
  the count driven), the synthesized interface equals the spec, and the formal equivalence proof succeeds
  (combinational: full; clocked: bounded from reset, `formal.SEQUENTIAL_BOUND` cycles).
- `ppa` in [0, 1]: 0.5 * min(1, (ref_cells + 1) / (cells + 1)) + 0.5 * min(1, (ref_depth + 1) / (depth + 1)),
  yosys `synth` cell count and longest combinational path relative to the reference design; only when functional.

Expected values come from the Python reference model on the host (generated tasks) or from the reference design
recorded side by side in the same run (VerilogEval-format tasks); they never enter the sandbox as data.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from verigym.envs.rtl.formal import Synthesis, SynthesisFailure, interface_problem, prove_equivalent, synthesize
from verigym.envs.rtl.harness import SimRun, SimStatus, simulate
from verigym.envs.rtl.model import Vector, expected_outputs
from verigym.envs.rtl.record import Comparison, compare
from verigym.envs.rtl.source_check import refusal
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.vectors import hidden_vectors
from verigym.envs.verdict import SandboxFailure, Verdict

WEIGHTS = {"compiles": 0.1, "functional": 0.8, "ppa": 0.1}
GATES = {"functional": "compiles", "ppa": "functional"}


@dataclass(frozen=True)
class GradeSettings:
    sim_timeout_s: float = 10.0
    formal: bool = True
    ppa: bool = True


def check_design(session, task: RtlTask, source: str, vectors: Sequence[Vector], sim_timeout_s: float,
                 expected: Sequence[dict] | None = None) -> tuple[SimRun, Comparison | None]:
    """Simulate `source` over `vectors` and compare on the host: with the Python model's outputs (generated
    tasks), with `expected` when given, else with the reference recorded side by side."""
    side_by_side = task.source != "generated" and expected is None
    run = simulate(session, task, source, vectors, sim_timeout_s, reference=task.reference if side_by_side else None)
    if run.status is not SimStatus.RAN:
        return run, None
    assert run.record is not None
    n_out = len(task.outputs)
    if side_by_side:
        reference_rows = [dict(zip([p.name for p in task.outputs], row[n_out:])) for row in run.record.rows]
        return run, compare(task, run.record, vectors, reference_rows, slice(0, n_out))
    want = expected if expected is not None else expected_outputs(task, vectors)
    return run, compare(task, run.record, vectors, want)


def refused_verdict(source: str) -> Verdict | None:
    """The all-zero verdict of a source the static check refuses (no sandbox needed), else None."""
    reason = refusal(source)
    if reason is None:
        return None
    return Verdict(False, 0.0, {name: 0.0 for name in WEIGHTS}, {"simulation": SimStatus.REFUSED.value, "message": reason})


def grade(session, task: RtlTask, source: str, settings: GradeSettings = GradeSettings()) -> Verdict:
    """The verdict on `source` (run everything in `session`, a fresh grading session)."""
    vectors = hidden_vectors(task)
    run, comparison = check_design(session, task, source, vectors, settings.sim_timeout_s)
    details: dict = {"simulation": run.status.value, "vectors": len(vectors)}
    if run.message:
        details["message"] = run.message
    if run.status is SimStatus.TIMEOUT:
        _reference_must_finish(simulate(session, task, task.reference, vectors, settings.sim_timeout_s, checked=False)
                               .status is SimStatus.TIMEOUT, task, "simulation")
    compiles = run.compiled
    functional = False
    synthesis: Synthesis | SynthesisFailure | None = None
    if comparison is not None:
        details.update(recorded=comparison.recorded, matched=comparison.matched)
        if comparison.problem:
            details["problem"] = comparison.problem
        if comparison.mismatches:
            details["first_mismatch"] = _mismatch_dict(comparison.mismatches[0])
        functional = comparison.passed
    if functional:
        synthesis = synthesize(session, source, task.module)
        if isinstance(synthesis, SynthesisFailure):
            if synthesis.timed_out:
                reference = synthesize(session, task.reference, task.module)
                _reference_must_finish(isinstance(reference, SynthesisFailure) and reference.timed_out, task, "synthesis")
            functional, details["synthesis"] = False, synthesis.reason
        elif problem := interface_problem(task, synthesis):
            functional, details["interface"] = False, problem
    if functional and settings.formal:
        equivalence = prove_equivalent(session, task, source, task.reference)
        details["formal"] = "proven" if equivalence.proven else equivalence.reason
        if equivalence.timed_out:
            _reference_must_finish(prove_equivalent(session, task, task.reference, task.reference).timed_out, task,
                                   "equivalence proof")
        functional = equivalence.proven
    ppa = 0.0
    if functional and settings.ppa and isinstance(synthesis, Synthesis):
        reference = reference_synthesis(session, task.reference, task.module)
        ppa = ppa_score(synthesis, reference)
        details.update(cells=synthesis.cells, depth=synthesis.depth, ref_cells=reference.cells, ref_depth=reference.depth)
    components = {"compiles": float(compiles), "functional": float(compiles and functional),
                  "ppa": ppa if compiles and functional else 0.0}
    score = sum(WEIGHTS[k] * v for k, v in components.items())
    return Verdict(passed=bool(components["functional"]), score=score, components=components, details=details)


def _reference_must_finish(reference_timed_out: bool, task: RtlTask, step: str) -> None:
    """A candidate's timeout counts against it only if the reference finishes the same step in the same session
    under the same limit; otherwise the sandbox is too slow to judge (overload): `SandboxFailure`, dropped."""
    if reference_timed_out:
        raise SandboxFailure(f"the reference of {task.task_id} also ran out of time in the {step}: the sandbox is "
                             "too slow to judge a timeout (overloaded?)")


def ppa_score(candidate: Synthesis, reference: Synthesis) -> float:
    """Cells and depth relative to the reference, each capped at 1 (matching the reference scores 1)."""
    cells = min(1.0, (reference.cells + 1) / (candidate.cells + 1))
    depth = min(1.0, (reference.depth + 1) / (candidate.depth + 1))
    return 0.5 * cells + 0.5 * depth


_REFERENCE_CACHE: OrderedDict[tuple[str, str], Synthesis] = OrderedDict()
_REFERENCE_CACHE_SIZE = 4096


def reference_synthesis(session, reference: str, module: str) -> Synthesis:
    """The reference's synthesis figures (computed once per reference text in this process)."""
    key = (reference, module)
    cached = _REFERENCE_CACHE.get(key)
    if cached is None:
        result = synthesize(session, reference, module)
        if isinstance(result, SynthesisFailure):
            raise SandboxFailure(f"the reference design does not synthesize: {result.reason}")
        cached = _REFERENCE_CACHE[key] = result
        while len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
            _REFERENCE_CACHE.popitem(last=False)
    return cached


def _mismatch_dict(mismatch) -> dict:
    return {"index": mismatch.index, "inputs": mismatch.inputs, "expected": mismatch.expected, "got": mismatch.got}
