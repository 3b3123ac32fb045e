"""The Python reference model of a generated task, run over a vector stream (reset applied uniformly here)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.templates import Template, load_all, mask

Vector = dict[str, int]


def template_of(task: RtlTask) -> Template:
    if task.source != "generated":
        raise ValueError(f"task {task.task_id} ({task.source}) has no Python model; simulate its reference instead")
    return load_all()[task.template]


def reset_active(task: RtlTask, vector: Vector) -> bool:
    c = task.clocking
    return c.sequential and vector[c.reset] == (1 if c.reset_active_high else 0)


def expected_outputs(task: RtlTask, vectors: Sequence[Vector]) -> list[Vector]:
    """The outputs the design must show for each vector (before the clock edge of its cycle, if clocked).

    Sequential streams start from the reset state (the testbench applies one unrecorded reset cycle first).
    A reset (sync or async) makes the next state the reset state; an async reset also shows it at once.
    """
    template, params = template_of(task), json.loads(task.params_json)
    widths = {p.name: p.width for p in task.outputs}
    results: list[Vector] = []
    if not template.sequential:
        for vector in vectors:
            results.append(_masked(template.model(params, dict(vector)), widths))
        return results
    reset = template.reset_state(params)
    state = reset
    for vector in vectors:
        active = reset_active(task, vector)
        if active and task.clocking.reset_async:
            state = reset
        outs, state = template.step(params, state, dict(vector))
        if active:
            state = reset
        results.append(_masked(outs, widths))
    return results


def _masked(outs: Vector, widths: dict[str, int]) -> Vector:
    if set(outs) != set(widths):
        raise AssertionError(f"model outputs {sorted(outs)} differ from the ports {sorted(widths)}")
    return {name: int(outs[name]) & mask(widths[name]) for name in widths}
