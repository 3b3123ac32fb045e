"""Task templates: each gives parameters (by difficulty), ports, a spec, reference Verilog and a Python model.

A combinational model is `model(params, inputs) -> outputs`; a sequential one is a pair `reset_state(params)` and
`step(params, state, inputs) -> (outputs, next_state)`, where outputs are those seen before the rising edge
(Mealy outputs see the current inputs). Reset is applied uniformly by `verigym.envs.rtl.model`, never here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verigym.envs.rtl.task import TOP, Clocking, Port

DIFFICULTIES = ("easy", "medium", "hard")
Params = dict[str, Any]


@dataclass(frozen=True)
class Template:
    """One family of designs. `mutant` (optional) is reference Verilog with an off-by-one bug."""

    name: str
    sequential: bool
    params: Callable[[random.Random, str], Params]
    ports: Callable[[Params], list[Port]]
    behaviour: Callable[[Params], str]
    verilog: Callable[[Params, Clocking], str]
    model: Callable[..., Any] | None = None  # combinational
    reset_state: Callable[[Params], Any] | None = None  # sequential
    step: Callable[..., Any] | None = None  # sequential
    mutant: Callable[[Params, Clocking], str] | None = None
    bias: Callable[[Params], dict[str, float]] | None = None  # P(1) of 1-bit control inputs in random stimulus
    formal_bound: int = 20  # steps of the bounded equivalence proof (clocked designs)


def mask(width: int) -> int:
    return (1 << width) - 1


def clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def width_for(rng: random.Random, difficulty: str) -> int:
    """A data width drawn for the difficulty."""
    return {"easy": rng.randint(2, 4), "medium": rng.randint(4, 8), "hard": rng.randint(8, 16)}[difficulty]


def module(ports: list[Port], body: str, regs: tuple[str, ...] = ()) -> str:
    """`module TopModule(...)` with ANSI ports (`regs` are declared `output reg`) around `body`."""
    decls = ",\n".join("  " + p.declaration(p.name in regs) for p in ports)
    return f"module {TOP}(\n{decls}\n);\n{body.rstrip()}\nendmodule\n"


def ff(clocking: Clocking) -> tuple[str, str]:
    """(sensitivity list, reset condition) of the reference's clocked `always` blocks."""
    edge = "posedge" if clocking.reset_active_high else "negedge"
    sense = f"posedge {clocking.clock}" + (f" or {edge} {clocking.reset}" if clocking.reset_async else "")
    cond = clocking.reset if clocking.reset_active_high else f"!{clocking.reset}"
    return sense, cond


def clock_ports(clocking: Clocking) -> list[Port]:
    return [Port(clocking.clock, "input", 1), Port(clocking.reset, "input", 1)]


REGISTRY: dict[str, Template] = {}


def register(template: Template) -> Template:
    if template.name in REGISTRY:
        raise ValueError(f"duplicate RTL template {template.name!r}")
    REGISTRY[template.name] = template
    return template


def load_all() -> dict[str, Template]:
    """Every template (importing the template modules registers them)."""
    from verigym.envs.rtl.templates import comb, seq  # noqa: F401

    return REGISTRY
