"""Mutants of a reference design, for validating the harness: each must fail grading on (nearly) every seed.

- `inverted_bit`: bit 0 of the first output inverted (a wrapper around the renamed reference).
- `missing_reset`: the reset input tied inactive inside a wrapper (clocked designs).
- `off_by_one`: the template's own off-by-one variant (counters, dividers, the traffic light), where it has one.
"""

from __future__ import annotations

import json

from verigym.envs.rtl.harness import rename_module
from verigym.envs.rtl.model import template_of
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.templates import module

CORE = "vg_mut_core"


def mutants(task: RtlTask) -> dict[str, str]:
    """Mutant name -> Verilog (defining `task.module`)."""
    found = {"inverted_bit": inverted_bit(task)}
    if task.clocking.sequential:
        found["missing_reset"] = missing_reset(task)
    template = template_of(task)
    if template.mutant is not None:
        found["off_by_one"] = template.mutant(json.loads(task.params_json), task.clocking)
    return found


def _wrapper(task: RtlTask, connections: dict[str, str], extra: str) -> str:
    core = rename_module(task.reference, task.module, CORE)
    conn = ", ".join(f".{p.name}({connections.get(p.name, p.name)})" for p in task.ports)
    return core + module(list(task.ports), f"{extra}  {CORE} core({conn});")


def inverted_bit(task: RtlTask) -> str:
    first = task.outputs[0]
    wire = f"  wire [{first.width - 1}:0] m_{first.name};\n  assign {first.name} = m_{first.name} ^ 1;\n"
    return _wrapper(task, {first.name: f"m_{first.name}"}, wire)


def missing_reset(task: RtlTask) -> str:
    c = task.clocking
    return _wrapper(task, {c.reset: "1'b0" if c.reset_active_high else "1'b1"}, "")
