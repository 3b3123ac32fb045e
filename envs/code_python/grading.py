"""Run code through the harness in a sandbox session and turn its frames into typed per-test outcomes.

The harness (`harness.py`) is passed as `python3 -I -S -c <source>` and reads a fresh random nonce from stdin
before any candidate code runs; the host accepts only frames carrying that nonce, each at most once, in order.
Who is at fault when a run goes wrong:

- the sandbox or the harness (a `sandbox_error`, the harness's own `error` frame, or anything abnormal before
  candidate code started, or anything abnormal in a trusted reference run): `SandboxFailure`, never scored;
- the candidate (anything abnormal once candidate code may have run: the harness killed, stopped past its
  deadline, its output flooded or forged): the tests without a valid result fail with status `harness_killed`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verigym.envs.base import harness_result
from verigym.envs.code_python import values
from verigym.envs.verdict import SandboxFailure

HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text()
HARNESS_ERROR_EXIT = 3
STARTUP_S = 5.0  # the harness's own start-up allowance within its deadline
STATUSES = frozenset({
    "ok", "exception", "unserialisable", "timeout", "crash", "load_error", "load_timeout", "protocol",
    "too_large", "output_flood", "spawn_failed", "not_run",
})


@dataclass(frozen=True)
class GradingConfig:
    """Time and resource settings of one harness run (per-test times in seconds)."""

    time_floor_s: float = 1.0  # no per-test limit is below this
    time_factor: float = 10.0  # per-test limit = max(floor, factor * the reference's time on that test) ...
    time_cap_s: float = 2.0  # ... and at most this: the harness kills a call here
    load_deadline_s: float = 5.0  # importing the candidate module
    child_memory_bytes: int = 256 * 1024 * 1024  # address space of the child running candidate code
    child_nproc: int = 40  # processes (threads count) the candidate may have at once
    give_up_after: int = 3  # after this many killed/crashed calls the remaining tests are `not_run` (failed)
    max_value_bytes: int = 256 * 1024  # one answer's size on the wire
    capture_bytes: int = 2000  # stdout/stderr shown by the `run` tool (0 while grading: discarded)

    def __post_init__(self) -> None:
        if not 0 < self.time_floor_s <= self.time_cap_s:
            raise ValueError(f"need 0 < time_floor_s <= time_cap_s, got {self.time_floor_s}, {self.time_cap_s}")
        if self.give_up_after < 1 or self.time_factor <= 0:
            raise ValueError("give_up_after must be >= 1 and time_factor > 0")

    def limit(self, reference_s: float | None) -> float:
        """The per-test time limit given the reference's time on that test (None: not measured)."""
        if reference_s is None:
            return self.time_cap_s
        return min(self.time_cap_s, max(self.time_floor_s, self.time_factor * reference_s))


@dataclass(frozen=True)
class CallOutcome:
    """What one call produced: `status` (see harness.py, plus `harness_killed`), the decoded value when ok."""

    status: str
    value: Any = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class HarnessRun:
    """Every test's outcome, the captured output (the `run` tool only) and what went wrong, if anything."""

    outcomes: tuple[CallOutcome, ...]
    stdout: str = ""
    stderr: str = ""
    anomaly: str = ""  # why the run ended abnormally (attributed to the candidate); empty when clean
    protected: bool = False  # the harness made itself non-dumpable
    duration_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.anomaly


def run_harness(
    session: Any,
    source: str,
    entry: str,
    args: list[str],
    config: GradingConfig,
    *,
    capture: bool = False,
    trusted: bool = False,
) -> HarnessRun:
    """Call `entry` from `source` on each wire-JSON argument list in `args`, inside `session`.

    `trusted` marks our own reference: then any abnormality is the harness's fault (`SandboxFailure`).
    """
    nonce = secrets.token_hex(16)
    job = {
        "source": source,
        "entry": entry,
        "tests": [json.loads(a) for a in args],
        "deadline_s": config.time_cap_s,
        "load_deadline_s": config.load_deadline_s,
        "child_memory_bytes": config.child_memory_bytes,
        "child_nproc": config.child_nproc,
        "give_up_after": config.give_up_after,
        "capture_bytes": config.capture_bytes if capture else 0,
        "max_value_bytes": config.max_value_bytes,
    }
    budget = STARTUP_S + config.load_deadline_s + len(args) * (config.time_cap_s + 0.5)
    stdin = nonce + "\n" + json.dumps(job, separators=(",", ":"))
    result = harness_result(
        session.exec(["python3", "-I", "-S", "-c", HARNESS_SOURCE], stdin=stdin, timeout=budget)
    )
    return parse_frames(result, nonce, len(args), trusted=trusted)


def parse_frames(result: Any, nonce: str, n_tests: int, *, trusted: bool = False) -> HarnessRun:
    """Strictly parse the harness's framed stdout; decide who is at fault when something is off."""
    problems: list[str] = []
    frames: list[dict[str, Any]] = []
    prefix = nonce + " "
    for line in result.stdout.splitlines():
        if not line.startswith(prefix):
            problems.append("an unframed line on the harness's stdout")
            continue
        try:
            frame = json.loads(line[len(prefix):])
        except ValueError:
            problems.append("a framed line that is not JSON")
            continue
        if not isinstance(frame, dict) or not isinstance(frame.get("k"), str):
            problems.append("a frame without a kind")
            continue
        frames.append(frame)
    errors = [f for f in frames if f["k"] == "error"]
    if errors and result.exit_code == HARNESS_ERROR_EXIT:
        raise SandboxFailure(f"the grading harness failed: {str(errors[0].get('detail'))[:500]}")
    spawned = any(f["k"] == "spawn" for f in frames)
    kinds = [f["k"] for f in frames]
    if not kinds or kinds[0] != "start":
        problems.append("no start frame first")
    if kinds.count("end") != 1 or kinds[-1] != "end":
        problems.append("no single end frame last")
    if kinds.count("spawn") > 1 or kinds.count("start") > 1 or errors:
        problems.append("repeated or unexpected control frames")
    if result.status != "ok" or result.exit_code != 0:
        problems.append(f"the harness ended with status {result.status} (exit {result.exit_code}): {result.detail}")
    found: dict[int, CallOutcome] = {}
    duplicated: set[int] = set()
    for frame in frames:
        if frame["k"] != "result":
            continue
        i, outcome = _result(frame, n_tests)
        if i is None:
            problems.append(f"a malformed result frame ({outcome.detail})")
        elif i in found:
            duplicated.add(i)
        else:
            found[i] = outcome
    if duplicated:
        problems.append(f"repeated results for tests {sorted(duplicated)[:5]}")
    missing = n_tests - len(set(found) - duplicated)
    if missing:
        problems.append(f"{missing} tests without a result")
    anomaly = "; ".join(dict.fromkeys(problems))
    if anomaly and (trusted or not spawned):
        who = "the reference run" if trusted else "before any candidate code ran"
        raise SandboxFailure(f"the grading harness misbehaved ({who}): {anomaly[:800]}")
    outcomes = tuple(
        found[i] if i in found and i not in duplicated else CallOutcome("harness_killed", None, anomaly[:300])
        for i in range(n_tests)
    )
    end = frames[-1] if frames and frames[-1]["k"] == "end" else {}
    start = frames[0] if frames and frames[0]["k"] == "start" else {}
    return HarnessRun(
        outcomes,
        stdout=str(end.get("stdout", "")),
        stderr=str(end.get("stderr", "")),
        anomaly=anomaly,
        protected=start.get("protected") is True,
        duration_s=result.duration_s,
    )


def _result(frame: dict[str, Any], n_tests: int) -> tuple[int | None, CallOutcome]:
    i, status, t, detail = frame.get("i"), frame.get("status"), frame.get("t"), frame.get("detail")
    if type(i) is not int or not 0 <= i < n_tests:
        return None, CallOutcome("protocol", None, "bad test index")
    if status not in STATUSES or type(t) not in (int, float) or not isinstance(detail, str) or t < 0:
        return None, CallOutcome("protocol", None, "bad status, time or detail")
    if set(frame) != {"k", "i", "status", "value", "detail", "t"}:
        return None, CallOutcome("protocol", None, "unexpected keys")
    value = None
    if status == "ok":
        try:
            value = values.decode(frame["value"])
        except (values.WireError, ValueError, RecursionError) as exc:
            return i, CallOutcome("unserialisable", None, f"the answer is not valid wire data: {exc}"[:300], float(t))
    elif frame["value"] is not None:
        return None, CallOutcome("protocol", None, "a value on a failed call")
    return i, CallOutcome(status, value, detail[:500], float(t))
