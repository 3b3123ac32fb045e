"""Loader for VerilogEval-format problem folders (spec-to-rtl layout), graded by this family's own harness.

A folder holds, per problem `NAME`: `NAME_prompt.txt` (the spec, asking for `module TopModule`),
`NAME_ref.sv` (the reference, `module RefModule`) and `NAME_test.sv` (VerilogEval's testbench). The testbench is
read and kept as provenance but **never run**: its verdict is the text "Mismatches: N in M samples", which a
candidate can forge or pre-empt (`initial $finish;`). Instead the harness drives its own stimulus (derived from
the reference's port list: random data, the clock, one reset cycle first and rare resets after) and records
candidate and reference side by side; the reference is the oracle, renamed to a random module name per run.

Clocking is read from port names: an input `clk` is the clock; an input named reset/rst/areset (active-high) or
resetn/rst_n/aresetn (active-low) is the reset, asynchronous when the name starts with `a`.
"""

from __future__ import annotations

import re
from pathlib import Path

from verigym.envs.rtl.harness import rename_module
from verigym.envs.rtl.source_check import strip_comments_and_strings
from verigym.envs.rtl.task import TOP, Clocking, Port, RtlTask

REFERENCE_MODULE = "RefModule"
_HEADER = re.compile(r"\bmodule\s+RefModule\s*(?:#\s*\(.*?\)\s*)?\((.*?)\)\s*;", re.DOTALL)
_PORT = re.compile(r"^(input|output)\s+(?:(?:wire|reg|logic)\s+)?(?:(signed|unsigned)\s+)?(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?"
                   r"([A-Za-z_][A-Za-z0-9_$]*)$")
_RESETS = {"reset": True, "rst": True, "areset": True, "resetn": False, "rst_n": False, "aresetn": False, "reset_n": False}


def load_problems(root: str | Path) -> list[RtlTask]:
    """Every problem in `root` (sorted by name); a malformed one raises ValueError naming the file."""
    root = Path(root)
    prompts = sorted(root.glob("*_prompt.txt"))
    if not prompts:
        raise ValueError(f"{root}: no *_prompt.txt files (expected VerilogEval spec-to-rtl problem files)")
    return [load_problem(root, p.name[: -len("_prompt.txt")], index) for index, p in enumerate(prompts)]


def load_problem(root: Path, name: str, index: int = 0) -> RtlTask:
    prompt = (root / f"{name}_prompt.txt").read_text()
    ref_path, test_path = root / f"{name}_ref.sv", root / f"{name}_test.sv"
    for path in (ref_path, test_path):
        if not path.is_file():
            raise ValueError(f"problem {name}: {path.name} is missing")
    reference = ref_path.read_text()
    ports = parse_ports(reference, ref_path.name)
    clocking = _clocking(ports)
    spec = prompt.strip()
    if clocking.sequential:
        spec += "\n\n" + clocking.describe()
    return RtlTask(
        task_id=f"verilogeval-{name}", seed=index, template=name, difficulty="verilogeval", spec=spec,
        ports=tuple(ports), clocking=clocking, reference=rename_module(reference, REFERENCE_MODULE, TOP),
        params_json="{}", source="verilogeval",
    )


def parse_ports(source: str, where: str = "reference") -> list[Port]:
    """The ANSI port list of `module RefModule` (non-ANSI headers are not supported)."""
    header = _HEADER.search(strip_comments_and_strings(source))
    if header is None:
        raise ValueError(f"{where}: no `module {REFERENCE_MODULE}(...);` header")
    ports, direction, signed = [], None, None
    for item in (part.strip() for part in header.group(1).split(",")):
        m = _PORT.match(" ".join(item.split()))
        if m is None:
            if direction is not None and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", item):
                ports.append(Port(item, direction, width))  # `input a, b`
                continue
            raise ValueError(f"{where}: cannot read port declaration {item!r} (use ANSI `input [7:0] name`)")
        direction, msb, lsb = m.group(1), m.group(3), m.group(4)
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        if msb is not None and int(lsb) != 0:
            raise ValueError(f"{where}: port {m.group(5)} is [{msb}:{lsb}]; only [N:0] ranges are supported")
        ports.append(Port(m.group(5), direction, width))
    return ports


def _clocking(ports: list[Port]) -> Clocking:
    names = {p.name for p in ports if p.direction == "input"}
    if "clk" not in names:
        return Clocking()
    reset = next((n for n in _RESETS if n in names), "")
    if not reset:
        raise ValueError("clocked problems need a reset input (reset/rst/areset or resetn/rst_n/aresetn)")
    return Clocking("clk", reset, _RESETS[reset], reset.startswith("a"))
