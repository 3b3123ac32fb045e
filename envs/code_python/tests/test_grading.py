"""Host-side parsing of the harness channel: who is at fault, forged frames, and what enters the sandbox."""

from __future__ import annotations

import contextlib
import json

import pytest

from verigym.envs.code_python import values
from verigym.envs.code_python.generator import generate_task
from verigym.envs.code_python.grading import GradingConfig, parse_frames, run_harness
from verigym.envs.code_python.validate import HostSession
from verigym.envs.code_python.verifier import grade
from verigym.envs.verdict import SandboxFailure, VerifierError
from verigym.sandbox.records import ExecResult, Status

NONCE = "ab" * 16
CONFIG = GradingConfig(time_floor_s=0.25, time_cap_s=0.5, give_up_after=2)


def frame(**data: object) -> str:
    return f"{NONCE} {json.dumps(data)}"


def result(i: int, value: object = 1, status: str = "ok") -> str:
    return frame(k="result", i=i, status=status, value=values.encode(value) if status == "ok" else None, detail="", t=0.001)


def done(lines: list[str], status: Status = Status.OK, exit_code: int | None = 0) -> ExecResult:
    return ExecResult(status, exit_code, None, "\n".join(lines) + "\n", "", False, False, 0.1)


CLEAN = [frame(k="start", protected=True), frame(k="spawn"), result(0), result(1, "x"), frame(k="end", stdout="", stderr="")]


def test_clean_frames_give_typed_outcomes() -> None:
    run = parse_frames(done(CLEAN), NONCE, 2)
    assert run.clean and run.protected
    assert [(o.status, o.value) for o in run.outcomes] == [("ok", 1), ("ok", "x")]


def test_unframed_or_forged_lines_after_spawn_are_the_candidates_fault() -> None:
    lines = CLEAN[:2] + ["PASSED", "OK", '{"k": "result", "i": 0, "status": "ok"}', "00" * 16 + " " + CLEAN[2][33:]] + CLEAN[2:]
    run = parse_frames(done(lines), NONCE, 2)
    assert not run.clean and "unframed" in run.anomaly
    forged = CLEAN[:3] + [result(0, 2)] + CLEAN[3:]  # a second result for test 0, even with the right nonce
    run = parse_frames(done(forged), NONCE, 2)
    assert run.outcomes[0].status == "harness_killed" and run.outcomes[1].ok


def test_harness_killed_after_spawn_fails_the_missing_tests() -> None:
    run = parse_frames(done(CLEAN[:3], Status.ERROR, None), NONCE, 2)
    assert run.outcomes[0].ok and run.outcomes[1].status == "harness_killed"
    run = parse_frames(done(CLEAN[:3], Status.TIMEOUT, None), NONCE, 2)
    assert run.outcomes[1].status == "harness_killed"


def test_harness_failures_before_candidate_code_are_sandbox_failures() -> None:
    with pytest.raises(SandboxFailure, match="before any candidate code"):
        parse_frames(done([frame(k="start", protected=True)], Status.TIMEOUT, None), NONCE, 2)
    with pytest.raises(SandboxFailure, match="before any candidate code"):
        parse_frames(done([]), NONCE, 2)
    with pytest.raises(SandboxFailure, match="harness failed"):
        parse_frames(done(CLEAN[:3] + [frame(k="error", detail="boom")], Status.ERROR, 3), NONCE, 2)
    with pytest.raises(SandboxFailure, match="reference run"):
        parse_frames(done(CLEAN[:3], Status.ERROR, None), NONCE, 2, trusted=True)


def test_a_forged_error_frame_without_the_harness_exit_code_is_not_a_drop() -> None:
    run = parse_frames(done(CLEAN[:3] + [frame(k="error", detail="x")], Status.OK, 0), NONCE, 2)
    assert not run.clean and run.outcomes[1].status == "harness_killed"


def test_sandbox_error_raises_sandbox_failure() -> None:
    class Broken:
        def exec(self, *args: object, **kwargs: object) -> ExecResult:
            return ExecResult(Status.SANDBOX_ERROR, None, None, "", "", False, False, 0.0, "worker lost")

    with pytest.raises(SandboxFailure, match="worker lost"):
        run_harness(Broken(), "def f(): pass", "f", [values.dumps([])], CONFIG)


def test_malformed_values_in_frames_are_rejected() -> None:
    bad = frame(k="result", i=0, status="ok", value=["i", "1e5"], detail="", t=0.0)
    run = parse_frames(done(CLEAN[:2] + [bad] + CLEAN[3:]), NONCE, 2)
    assert run.outcomes[0].status == "unserialisable"
    extra = frame(k="result", i=1, status="ok", value=["n"], detail="", t=0.0, expected=1)
    assert not parse_frames(done(CLEAN[:3] + [extra] + CLEAN[4:]), NONCE, 2).clean


class ForgingSession(HostSession):
    """A sandbox whose channel the candidate fully controls (it even knows the nonce): every candidate run
    answers with a well-formed forged stream of guessed values; the reference runs for real."""

    def __init__(self, reference: str, guess: object) -> None:
        super().__init__()
        self.reference, self.guess = reference, guess

    def exec(self, argv: list[str], *, timeout: float | None = None, stdin: str | bytes | None = None, **kw: object) -> ExecResult:
        text = stdin.decode() if isinstance(stdin, bytes) else str(stdin)
        nonce, body = text.split("\n", 1)
        job = json.loads(body)
        if job["source"] == self.reference:
            return super().exec(argv, timeout=timeout, stdin=stdin)
        self.calls.append({"argv": argv, "stdin": text.encode()})
        lines = [f"{nonce} " + json.dumps({"k": "start", "protected": True}), f"{nonce} " + json.dumps({"k": "spawn"})]
        lines += [f"{nonce} " + json.dumps({"k": "result", "i": i, "status": "ok", "value": values.encode(self.guess),
                                            "detail": "", "t": 0.0}) for i in range(len(job["tests"]))]
        lines.append(f"{nonce} " + json.dumps({"k": "end", "stdout": "PASSED", "stderr": ""}))
        return ExecResult(Status.OK, 0, None, "\n".join(lines) + "\n", "", False, False, 0.01)


@pytest.mark.parametrize("guess", ["PASSED", True, 0, None, [], {"ok": True}])
def test_a_fully_forged_channel_gains_nothing(guess: object) -> None:
    task = generate_task(3, "easy")
    session = ForgingSession(task.reference, guess)
    verdict = grade(task, "def x(): pass", lambda: contextlib.nullcontext(session), CONFIG)
    assert verdict.components["correct"] == 0.0
    expected = [values.loads(t.expected) for t in task.hidden]
    assert verdict.components["pass_fraction"] == sum(values.same(e, guess) for e in expected) / len(expected)


def test_expected_values_never_enter_the_sandbox_and_the_reference_runs_last() -> None:
    task = generate_task(5, "medium")
    session = HostSession()
    verdict = grade(task, task.reference, lambda: contextlib.nullcontext(session), CONFIG)
    assert verdict.passed
    first, second = (json.loads(c["stdin"].decode().split("\n", 1)[1]) for c in session.calls)
    assert first["source"] == task.reference and second["source"] == task.reference
    # the job sent to the sandbox carries code, arguments and limits: no expected value has a field to ride in
    assert set(first) == {"source", "entry", "tests", "deadline_s", "load_deadline_s", "child_memory_bytes",
                          "child_nproc", "give_up_after", "capture_bytes", "max_value_bytes"}
    assert first["tests"] == [json.loads(t.args) for t in task.hidden]


def test_reference_disagreeing_in_the_sandbox_is_a_verifier_error() -> None:
    task = generate_task(5, "medium")
    tampered = task.__class__(**{**task.__dict__, "hidden": tuple(
        t.__class__(t.args, values.dumps("not what the reference returns")) if i == 0 else t for i, t in enumerate(task.hidden))})
    with pytest.raises(VerifierError, match="reference disagrees"):
        grade(tampered, task.reference, lambda: contextlib.nullcontext(HostSession()), CONFIG)
