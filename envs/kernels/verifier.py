"""The verdict on one submission: a pure function of the static report and the two harness runs.

Components (each in [0, 1]):
- `compiles`: the module imported, ModelNew was built and every forward ran (kernels compiled and launched).
- `correct`: 1 only when every trial matches the reference within the dtype's tolerance AND every integrity
  check holds: static checks pass, >= 1 Triton launch per forward, torch compute outside kernels stays under
  `1 - min_coverage` of the reference's work, inputs unchanged, fresh outputs (no aliasing of inputs or of an
  earlier trial's buffers), no extra threads, no stream switch.
- `speedup`: GPU only (0 on the CPU): median reference time / median candidate time, 0 at parity rising
  linearly to 1 at `speedup_cap`; above 10x the verdict carries a `suspicious_speedup` flag.
- `coverage`: share of the reference's work (elements produced by torch compute ops) done in own kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verigym.envs.kernels import timing
from verigym.envs.kernels.compare import compare_outputs
from verigym.envs.kernels.grading import CandidateRun, ReferenceRun
from verigym.envs.kernels.harness import HOST_READ_OPS
from verigym.envs.kernels.static_check import StaticReport
from verigym.envs.verdict import Verdict

COMPONENTS = ("compiles", "correct", "speedup", "coverage")


@dataclass(frozen=True)
class GradeSettings:
    """Thresholds of the verdict (from the env's config)."""

    min_coverage: float = 0.5
    speedup_cap: float = 4.0


def grade(
    static: StaticReport,
    reference: ReferenceRun | None,
    run: CandidateRun | None,
    device: str,
    settings: GradeSettings = GradeSettings(),
) -> Verdict:
    """Score one submission; `details["feedback"]` is the text the agent sees."""
    if not static.ok or run is None or reference is None:
        lines = ["Static check failed:", *[f"- {v}" for v in static.violations]]
        return _verdict(0.0, 0.0, 0.0, 0.0, lines, {"static": list(static.violations)})
    if run.stage != "ok":
        where = {"import": "importing your module", "init": "building ModelNew", "forward": "running forward",
                 "crashed": "running (the process died)", "malformed": "reporting results"}.get(run.stage, run.stage)
        lines = [f"Failed while {where}:", (run.error or run.stderr or "(no message)")[-2500:]]
        return _verdict(0.0, 0.0, 0.0, 0.0, lines, {"stage": run.stage, "error": run.error})

    lines: list[str] = []
    violations: list[str] = []
    coverages: list[float] = []
    trials_ok = 0
    per_trial: list[dict[str, Any]] = []
    for i, (want, got) in enumerate(zip(reference.trials, run.trials, strict=False)):
        checks = compare_outputs(got.outputs, want.outputs)
        problems = []
        if got.seed != want.seed:
            problems.append("results for the wrong seed")
        if got.launches < 1:
            problems.append("no Triton kernel was launched")
        ops_work = sum(n for name, (_, n) in got.torch_ops.items() if name not in HOST_READ_OPS)
        coverage = 1.0 - min(1.0, ops_work / want.work) if want.work else (1.0 if ops_work == 0 else 0.0)
        coverages.append(coverage)
        if coverage < settings.min_coverage:
            top = sorted(got.torch_ops, key=lambda k: -got.torch_ops[k][1])[:5]
            problems.append(f"torch ops did the main work outside your kernels ({', '.join(top)}; "
                            f"coverage {coverage:.2f} < {settings.min_coverage})")
        reads = sorted(set(got.torch_ops) & HOST_READ_OPS)
        if reads:
            problems.append(f"tensor values read on the host ({', '.join(reads)})")
        if got.inputs_sha256 != tuple(t.sha256() for t in want.inputs):
            problems.append("the inputs were modified")
        if got.outputs_alias_inputs:
            problems.append("an output shares memory with an input")
        if got.outputs_reused:
            problems.append("an output reuses a previous call's buffer")
        if got.python_threads_delta > 0 or got.os_threads_delta > 0:
            problems.append("forward left extra threads running")
        if got.stream_changed:
            problems.append("forward switched the CUDA stream")
        values_ok = all(c.ok for c in checks)
        ok = values_ok and not problems
        trials_ok += ok
        violations.extend(p for p in problems if p not in violations)
        lines.append(f"Trial {i + 1} (fresh inputs): {'PASS' if ok else 'FAIL'}; launches {got.launches} "
                     f"({', '.join(f'{k} x{v}' for k, v in got.kernels.items()) or 'none'})")
        lines.extend(f"  {c.describe()}" for c in checks)
        lines.extend(f"  integrity: {p}" for p in problems)
        per_trial.append({"ok": ok, "launches": got.launches, "coverage": coverage,
                          "outputs": [c.describe() for c in checks], "problems": problems})
    missing = len(reference.trials) - len(run.trials)
    if missing:
        violations.append(f"{missing} trial(s) returned no results")
    correct = 1.0 if trials_ok == len(reference.trials) and not missing else 0.0
    coverage = min(coverages) if coverages else 0.0
    details: dict[str, Any] = {"trials": per_trial, "violations": violations, "device": device}
    speed = 0.0
    if device == "cuda" and correct and reference.timing and run.timing:
        speed = _speed(reference.timing, run.timing, settings, lines, details)
    elif device != "cuda":
        lines.append("Speed: not measured (CPU interpreter mode; the speedup component is 0 on the CPU).")
    lines.insert(0, f"{trials_ok}/{len(reference.trials)} trials correct.")
    return _verdict(1.0, correct, speed, coverage if correct else 0.0, lines, details)


def _speed(ref_timing: dict, cand_timing: dict, settings: GradeSettings, lines: list[str], details: dict) -> float:
    ref_ms = float(ref_timing["model_ms"]["median"])
    cand_ms = float(cand_timing["model_ms"]["median"])
    value = timing.speedup(ref_ms, cand_ms)
    details.update(reference_ms=ref_ms, candidate_ms=cand_ms, speedup=value)
    lines.append(f"Speed: {cand_ms:.4f} ms vs reference {ref_ms:.4f} ms: {value:.2f}x")
    if "compiled_ms" in ref_timing:
        vs_compile = timing.speedup(float(ref_timing["compiled_ms"]["median"]), cand_ms)
        details["speedup_vs_compile"] = vs_compile
        lines.append(f"  vs torch.compile: {vs_compile:.2f}x")
    share = cand_timing.get("own_kernel_share")
    if isinstance(share, (int, float)):
        details["own_kernel_share"] = float(share)
        lines.append(f"  share of GPU time in your kernels: {100 * share:.0f}%")
    if timing.is_suspicious(value):
        details["flags"] = ["suspicious_speedup"]
        lines.append(f"  flagged: speedups above {timing.SUSPICIOUS_SPEEDUP:.0f}x are reviewed")
    return timing.speedup_score(value, settings.speedup_cap)


def _verdict(compiles: float, correct: float, speed: float, coverage: float, lines: list[str],
             details: dict[str, Any]) -> Verdict:
    components = {"compiles": compiles, "correct": correct, "speedup": speed, "coverage": coverage}
    return Verdict(passed=correct == 1.0, score=correct, components=components,
                   details={**details, "feedback": "\n".join(lines)})
