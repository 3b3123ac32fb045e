"""Procedural task generation: template, difficulty, parameters, clocking and reset style from a seed."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from verigym.envs.rtl.task import TOP, Clocking, RtlTask
from verigym.envs.rtl.templates import DIFFICULTIES, Params, Template, clock_ports, load_all


def template_names() -> list[str]:
    return sorted(load_all())


def generate_task(seed: int, difficulty: str | None = None, templates: Sequence[str] = ()) -> RtlTask:
    """The task for `seed`; `difficulty` (easy/medium/hard, None: drawn) and `templates` (empty: all) narrow it."""
    registry = load_all()
    names = sorted(templates) if templates else sorted(registry)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise ValueError(f"unknown RTL templates {unknown}; known: {sorted(registry)}")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES} or None, got {difficulty!r}")
    rng = random.Random(seed)
    template = registry[rng.choice(names)]
    level = difficulty or rng.choice(DIFFICULTIES)
    params = template.params(rng, level)
    clocking = _clocking(rng) if template.sequential else Clocking()
    return build_task(template, params, clocking, seed, level)


def _clocking(rng: random.Random) -> Clocking:
    high = rng.random() < 0.5
    return Clocking("clk", "rst" if high else "rst_n", high, rng.random() < 0.5)


def build_task(template: Template, params: Params, clocking: Clocking, seed: int, difficulty: str) -> RtlTask:
    """The task for explicit parameters (used by the generator and by tests)."""
    ports = (clock_ports(clocking) if template.sequential else []) + template.ports(params)
    interface = "\n".join(f"  {p.declaration()}" for p in ports)
    spec = (f"{template.behaviour(params)}\n\nWrite a Verilog module named `{TOP}` with exactly these ports (all "
            f"unsigned, in this order):\n{interface}\n\n{clocking.describe()}")
    return RtlTask(
        task_id=f"rtl-{template.name}-{seed}", seed=seed, template=template.name, difficulty=difficulty, spec=spec,
        ports=tuple(ports), clocking=clocking, reference=template.verilog(params, clocking),
        params_json=json.dumps(params, sort_keys=True), formal_bound=template.formal_bound,
    )
