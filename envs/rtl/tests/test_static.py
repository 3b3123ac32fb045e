"""The static check on candidate sources, and the host-side record parser (no sandbox needed)."""

from __future__ import annotations

import pytest

from verigym.envs.rtl.record import RecordFormatError, compare, parse_record
from verigym.envs.rtl.source_check import refusal
from verigym.envs.rtl.task import Port

FORBIDDEN = ["$finish", "$stop", "$exit", "$fatal", "$fopen", "$fwrite", "$fdisplay", "$fclose", "$fscanf", "$system",
             "$readmemh", "$readmemb", "$writememh", "$dumpfile", "$dumpvars", "$value$plusargs", "$test$plusargs",
             "$random", "$root", "$deposit"]
OK_DESIGN = "module TopModule(input [3:0] a, output [3:0] y);\n  assign y = a;\n{extra}\nendmodule\n"


@pytest.mark.parametrize("task", FORBIDDEN)
def test_every_forbidden_system_task_is_refused(task: str) -> None:
    reason = refusal(OK_DESIGN.format(extra=f"  initial {task};"))
    assert reason is not None and task.split("$")[1] in reason and "line 3" in reason


@pytest.mark.parametrize("directive", ['`include "/etc/passwd"', "`define F $fin", "`ifdef X", "``finish"])
def test_directives_other_than_timescale_are_refused(directive: str) -> None:
    assert refusal(directive + "\n" + OK_DESIGN.format(extra="")) is not None


def test_hierarchical_names_and_escaped_identifiers_are_refused() -> None:
    assert "hierarchical" in refusal(OK_DESIGN.format(extra="  initial tb.i = 0;"))
    assert "hierarchical" in refusal(OK_DESIGN.format(extra="  always @* force tb . f = 0;"))
    assert "escaped" in refusal(OK_DESIGN.format(extra="  wire \\$finish ;"))


def test_comments_strings_and_allowed_tasks_pass() -> None:
    extra = ('  // $finish in a comment\n  /* `include "x" and $stop */\n  initial $display("Mismatches: 0 $finish");\n'
             "  wire [3:0] s = $signed(a) >>> 1;\n  sub u(.x(a), .y());")
    assert refusal("`timescale 1ns/1ps\n" + OK_DESIGN.format(extra=extra)) is None


def test_empty_and_oversized_sources_are_refused() -> None:
    assert "empty" in refusal("   \n")
    assert "limit" in refusal("//" + "x" * 100_000)


PORTS = (Port("a", "input", 2), Port("y", "output", 2), Port("z", "output", 1))
OUTS = PORTS[1:]


def test_record_parses_values_and_x_z() -> None:
    record = parse_record("IFACE 2 2 1\n01 1\nx1 z\nEND 2\n", PORTS, OUTS)
    assert record.complete and record.iface == (2, 2, 1) and record.rows == ((1, 1), (None, None))


def test_record_without_end_is_an_early_end() -> None:
    record = parse_record("IFACE 2 2 1\n01 1\n1", PORTS, OUTS)
    assert not record.complete and len(record.rows) == 1
    assert not parse_record("", PORTS, OUTS).complete


def test_record_tampering_is_a_harness_error() -> None:
    with pytest.raises(RecordFormatError):
        parse_record("IFACE 2 2 1\n01 1\nEND 5\n", PORTS, OUTS)
    with pytest.raises(RecordFormatError):
        parse_record("IFACE 2 2 1\nMismatches: 0\n01 1\nEND 1\n", PORTS, OUTS)


def test_early_end_and_x_score_as_failures() -> None:
    from verigym.envs.rtl.generator import generate_task

    task = generate_task(0, "easy", ("bin2gray",))
    width = task.ports[0].width
    vectors = [{"bin": v} for v in range(3)]
    expected = [{"gray": v ^ (v >> 1)} for v in range(3)]
    rows = "".join(format(e["gray"], f"0{width}b") + "\n" for e in expected)
    full = parse_record(f"IFACE {width} {width}\n{rows}END 3\n", task.ports, task.outputs)
    assert compare(task, full, vectors, expected).passed
    early = parse_record(f"IFACE {width} {width}\n{rows}", task.ports, task.outputs)
    result = compare(task, early, vectors, expected)
    assert not result.passed and "ended early" in result.problem
    xs = parse_record(f"IFACE {width} {width}\n" + ("x" * width + "\n") * 3 + "END 3\n", task.ports, task.outputs)
    assert compare(task, xs, vectors, expected).matched == 0
