"""Host-side parsing of a simulation record and comparison with expected outputs (plain, strictly typed data)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from verigym.envs.rtl.model import Vector
from verigym.envs.rtl.task import Port, RtlTask

_BITS = re.compile(r"[01xz]+")
Value = int | None  # None: some bit was x or z


@dataclass(frozen=True)
class Record:
    """What the testbench recorded: port widths as the DUT declares them, and one row of values per vector.

    `complete` is False when the run ended before writing `END` (an early end), or the record broke off."""

    iface: tuple[int, ...]
    rows: tuple[tuple[Value, ...], ...]
    complete: bool


class RecordFormatError(ValueError):
    """The record is not what the testbench writes: the harness is broken (never the candidate's doing)."""


def parse_record(text: str, ports: Sequence[Port], outputs: Sequence[Port], copies: int = 1) -> Record:
    """Parse `text`; each row holds `copies` x len(outputs) values. A missing or cut-off tail is `complete=False`."""
    lines = text.split("\n")
    if not lines or not lines[0].startswith("IFACE"):
        return Record((), (), False)
    head = lines[0].split()
    if len(head) != len(ports) + 1 or not all(h.isdigit() for h in head[1:]):
        raise RecordFormatError(f"malformed IFACE line {lines[0][:200]!r}")
    iface = tuple(int(h) for h in head[1:])
    widths = [p.width for p in outputs] * copies
    rows: list[tuple[Value, ...]] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("END "):
            count = line[4:]
            if not count.isdigit() or int(count) != len(rows) or lines[number:] not in ([], [""]):
                raise RecordFormatError(f"END line {line!r} after {len(rows)} rows")
            return Record(iface, tuple(rows), True)
        fields = line.split(" ")
        if len(fields) != len(widths) or not all(_BITS.fullmatch(f) for f in fields):
            if number == len(lines):  # the last, cut-off line of a run that ended early
                break
            raise RecordFormatError(f"malformed record line {number}: {line[:200]!r}")
        rows.append(tuple(_value(f, w) for f, w in zip(fields, widths)))
    return Record(iface, tuple(rows), False)


def _value(bits: str, width: int) -> Value:
    if len(bits) != width:
        raise RecordFormatError(f"a {width}-bit output was recorded as {bits!r}")
    return None if ("x" in bits or "z" in bits) else int(bits, 2)


@dataclass(frozen=True)
class Mismatch:
    """One failing vector: its index (the cycle, for clocked designs), inputs, expected and observed outputs."""

    index: int
    inputs: Vector
    expected: dict[str, Value]
    got: dict[str, Value]


@dataclass(frozen=True)
class Comparison:
    """The outcome of checking a record against expected outputs."""

    driven: int
    recorded: int
    matched: int
    mismatches: tuple[Mismatch, ...]  # the first few
    problem: str = ""  # interface or early-end problem ("" when none)

    @property
    def passed(self) -> bool:
        return not self.problem and self.recorded == self.driven and self.matched == self.driven


def compare(task: RtlTask, record: Record, vectors: Sequence[Vector], expected: Sequence[dict[str, Value]],
            observed_slice: slice = slice(None), keep: int = 3) -> Comparison:
    """Compare the record's outputs (`observed_slice` of each row) with `expected`, vector by vector.

    An observed x/z never matches; an expected None (a side-by-side reference showing x) is a don't-care."""
    driven = len(vectors)
    widths = tuple(p.width for p in task.ports)
    if record.iface != widths:
        got = ", ".join(f"{p.name}: {w}" for p, w in zip(task.ports, record.iface)) or "nothing"
        return Comparison(driven, len(record.rows), 0, (), f"port widths differ from the spec (recorded {got})")
    names = [p.name for p in task.outputs]
    matched, mismatches = 0, []
    for index, (row, want) in enumerate(zip(record.rows, expected)):
        got = dict(zip(names, row[observed_slice]))
        if all(w is None or got[k] == w for k, w in want.items()):
            matched += 1
        elif len(mismatches) < keep:
            mismatches.append(Mismatch(index, dict(vectors[index]), dict(want), got))
    problem = ""
    if not record.complete or len(record.rows) != driven:
        problem = f"the simulation ended early: {len(record.rows)} of {driven} vectors were recorded"
    return Comparison(driven, len(record.rows), matched, tuple(mismatches), problem)
