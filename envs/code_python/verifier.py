"""Grade a submission: run it on the hidden tests in a fresh grading session, compare on the host.

Order inside the one grading session: (1) the candidate's run — the hidden inputs enter the sandbox only now,
and the expected values never do; (2) only if some test produced a correct value and the candidate's run was
clean, the reference's run on the same inputs, which times each test (per-test limit = clamp(factor x the
reference's time, floor, cap)) and must reproduce the host's expected values (else the verifier itself is
broken: `VerifierError`). The reference thus never sits in a sandbox while candidate code runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from verigym.envs.code_python import values
from verigym.envs.code_python.grading import GradingConfig, HarnessRun, run_harness
from verigym.envs.code_python.task import CodeTask
from verigym.envs.verdict import Verdict, VerifierError

COMPONENTS = ("correct", "pass_fraction", "efficiency")
EFFICIENCY_SLACK_S = 0.001


def grade(task: CodeTask, code: str, open_session: Callable[[], AbstractContextManager[Any]], config: GradingConfig) -> Verdict:
    """The verdict on `code` for `task`; `open_session()` gives a fresh grading session (a context manager)."""
    args = [t.args for t in task.hidden]
    expected = [values.loads(t.expected) for t in task.hidden]
    with open_session() as session:
        run = run_harness(session, code, task.entry, args, config)
        value_ok = [o.ok and values.same(e, o.value, numeric_ok=task.numeric_ok) for o, e in zip(run.outcomes, expected)]
        reference = None
        if any(value_ok) and run.clean:
            reference = run_harness(session, task.reference, task.entry, args, config, trusted=True)
            check_reference(task, reference, expected)
    return judge(task, run, value_ok, reference, config)


def check_reference(task: CodeTask, reference: HarnessRun, expected: list[Any]) -> None:
    """The reference must reproduce the host's expected values in the sandbox (else our verifier is broken)."""
    for i, (outcome, want) in enumerate(zip(reference.outcomes, expected)):
        if not (outcome.ok and values.same(want, outcome.value, numeric_ok=task.numeric_ok)):
            raise VerifierError(
                f"{task.task_id}: the reference disagrees with the host on hidden test {i} in the sandbox "
                f"({outcome.status}: {outcome.detail or values.show(outcome.value)})"
            )


def judge(task: CodeTask, run: HarnessRun, value_ok: list[bool], reference: HarnessRun | None,
          config: GradingConfig) -> Verdict:
    """Combine values and times into the verdict (pure: no sandbox)."""
    ref_times = [o.seconds for o in reference.outcomes] if reference is not None else [None] * len(value_ok)
    limits = [config.limit(t) for t in ref_times]
    passed = [ok and o.seconds <= limit for ok, o, limit in zip(value_ok, run.outcomes, limits)]
    n = len(passed)
    correct = n > 0 and all(passed)
    efficiency = 0.0
    if correct and reference is not None:
        # an allowance of 1 ms per test keeps the ratio of microsecond calls from being timing noise
        slack = EFFICIENCY_SLACK_S * n
        efficiency = min(1.0, (sum(ref_times) + slack) / (sum(o.seconds for o in run.outcomes) + slack))
    statuses = Counter(
        ("too_slow" if ok and not p else "wrong" if o.ok and not ok else o.status)
        for ok, p, o in zip(value_ok, passed, run.outcomes)
    )
    first_failure = next((i for i, p in enumerate(passed) if not p), None)
    details: dict[str, Any] = {
        "passed": sum(passed),
        "tests": n,
        "per_test": [int(p) for p in passed],  # per hidden test, in order (difficulty-weighted shaping: VeRPO)
        "statuses": dict(statuses),
        "anomaly": run.anomaly,
        "harness_protected": run.protected,
    }
    if first_failure is not None:
        o = run.outcomes[first_failure]
        details["first_failure"] = {"test": first_failure, "status": o.status, "detail": o.detail[:300]}
    return Verdict(
        passed=correct,
        score=1.0 if correct else 0.0,
        components={"correct": float(correct), "pass_fraction": sum(passed) / n if n else 0.0, "efficiency": efficiency},
        details=details,
    )
