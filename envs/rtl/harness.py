"""Compile and simulate a candidate in a sandbox session, and bring the record back to the host.

Every command here is the harness's own: a `sandbox_error` result raises `SandboxFailure` (the episode is
dropped). What the candidate causes (refusal, compile error, a simulation that never ends) is a `SimRun` status.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from verigym.envs.base import harness_result
from verigym.envs.rtl.model import Vector
from verigym.envs.rtl.record import Record, RecordFormatError, parse_record
from verigym.envs.rtl.source_check import refusal
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.testbench import Bench, bench_files, stimulus_text, testbench
from verigym.envs.verdict import SandboxFailure
from verigym.sandbox.records import Status

COMPILE_TIMEOUT_S = 30.0
RECORD_MAX_BYTES = 16 * 1024 * 1024
IVERILOG = ("iverilog", "-g2012")


class SimStatus(enum.StrEnum):
    REFUSED = "refused"  # the static check refused the source
    COMPILE_ERROR = "compile_error"
    TIMEOUT = "timeout"  # the simulation did not finish in time
    CRASHED = "crashed"  # vvp failed (killed for memory, output flood, non-zero exit)
    RAN = "ran"  # the simulation ran; `record` holds what it recorded


@dataclass(frozen=True)
class SimRun:
    status: SimStatus
    message: str = ""  # for the agent: the refusal, compiler errors (lines of the design), the failure
    record: Record | None = None
    stdout: str = ""  # what the design printed (shown to the agent; never used for the verdict)

    @property
    def compiled(self) -> bool:
        return self.status in (SimStatus.TIMEOUT, SimStatus.CRASHED, SimStatus.RAN)


def simulate(session, task: RtlTask, source: str, vectors: Sequence[Vector], sim_timeout_s: float,
             reference: str | None = None, checked: bool = True) -> SimRun:
    """Compile `source` with a fresh testbench in `session`, run it over `vectors`, parse the record.

    With `reference` (Verilog defining `task.module`), the reference is renamed to a random module name and
    recorded side by side (each record row: the candidate's outputs, then the reference's). `checked=False`
    skips the static check: only for trusted designs (a loaded task's reference), never for an agent's."""
    reason = refusal(source) if checked else None
    if reason is not None:
        return SimRun(SimStatus.REFUSED, reason)
    bench = bench_files(secrets.token_hex(6))
    ref_module = f"ref_{secrets.token_hex(6)}" if reference is not None else None
    session.write_file(bench.design, source)
    session.write_file(bench.stimulus, stimulus_text(task, vectors))
    session.write_file(bench.testbench, testbench(task, len(vectors), bench, ref_module))
    files = [bench.testbench, bench.design]
    if reference is not None:
        session.write_file(bench.reference, rename_module(reference, task.module, ref_module))
        files.append(bench.reference)
    compiled = harness_result(session.exec(
        [*IVERILOG, "-o", f"sim_{bench.nonce}.vvp", "-s", bench.top, *files], timeout=COMPILE_TIMEOUT_S))
    if compiled.status is Status.TIMEOUT:
        return SimRun(SimStatus.COMPILE_ERROR, "iverilog did not finish compiling the design in time")
    if not compiled.ok:
        return SimRun(SimStatus.COMPILE_ERROR, compile_message(compiled.stderr + compiled.stdout, bench))
    run = harness_result(session.exec(["vvp", "-n", f"sim_{bench.nonce}.vvp"], timeout=sim_timeout_s))
    printed = run.stdout[-2000:]
    if run.status is Status.TIMEOUT:
        return SimRun(SimStatus.TIMEOUT, f"the simulation did not finish within {sim_timeout_s:g} s "
                      "(a combinational loop, or a process with no delay?)", stdout=printed)
    if not run.ok:
        return SimRun(SimStatus.CRASHED, f"the simulation failed ({run.status.value}: {run.detail or run.stderr[-300:]})",
                      stdout=printed)
    try:
        text = session.read_file(bench.record, max_bytes=RECORD_MAX_BYTES).decode("ascii", "replace")
    except FileNotFoundError:
        text = ""
    try:
        record = parse_record(text, task.ports, task.outputs, copies=2 if reference is not None else 1)
    except RecordFormatError as exc:
        raise SandboxFailure(f"the testbench record is malformed: {exc}") from exc
    return SimRun(SimStatus.RAN, "", record, printed)


def rename_module(source: str, old: str, new: str) -> str:
    """`source` with the module named `old` renamed to `new` (its definition and instantiations)."""
    return re.sub(rf"\b{re.escape(old)}\b", new, source)


def compile_message(text: str, bench: Bench) -> str:
    """The compiler's messages, with the run's file names replaced by `design.v` / `testbench.v`."""
    text = text.replace(bench.design, "design.v").replace(bench.testbench, "testbench.v")
    text = text.replace(bench.top, "testbench").replace(bench.nonce, "")
    lines = [line for line in text.splitlines() if line.strip()][:20]
    return "compile errors:\n" + "\n".join(lines) if lines else "iverilog failed without a message"
