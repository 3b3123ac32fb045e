"""`RtlTask`: one hardware-design task (a spec, the module interface, the reference design)."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.task import Task

TOP = "TopModule"  # the module name every candidate must define (VerilogEval's convention)


@dataclass(frozen=True)
class Port:
    """One port of the module: `direction` is "input" or "output"; `width` in bits (>= 1)."""

    name: str
    direction: str
    width: int

    def declaration(self, reg: bool = False) -> str:
        kind = " reg" if reg else ""
        size = f" [{self.width - 1}:0]" if self.width > 1 else ""
        return f"{self.direction}{kind}{size} {self.name}"


@dataclass(frozen=True)
class Clocking:
    """How a sequential design is clocked and reset (comb designs have `clock == ""`)."""

    clock: str = ""
    reset: str = ""
    reset_active_high: bool = True
    reset_async: bool = False

    @property
    def sequential(self) -> bool:
        return bool(self.clock)

    def describe(self) -> str:
        """The clocking sentence of the spec."""
        if not self.sequential:
            return "The design is purely combinational: no clock, no state, no delays (#)."
        level = "active-high" if self.reset_active_high else "active-low"
        mode = "asynchronous (it takes effect immediately, without waiting for a clock edge)" if self.reset_async else (
            "synchronous (sampled on the rising clock edge)")
        return (f"All state changes on the rising edge of `{self.clock}`. The reset `{self.reset}` is {level} and "
                f"{mode}; it puts the design in the reset state described above.")


@dataclass(frozen=True)
class RtlTask(Task):
    """A design task. Generated tasks carry `template` and `params_json` (rebuilding the Python reference model);
    VerilogEval-format tasks (`source == "verilogeval"`) have no Python model: their `reference` Verilog is
    simulated side by side with the candidate."""

    template: str
    difficulty: str
    spec: str
    ports: tuple[Port, ...]
    clocking: Clocking
    reference: str
    params_json: str = "{}"
    source: str = "generated"
    module: str = TOP
    formal_bound: int = 20  # steps of the bounded equivalence proof of clocked designs

    @property
    def inputs(self) -> tuple[Port, ...]:
        """Driven inputs (the clock excluded)."""
        return tuple(p for p in self.ports if p.direction == "input" and p.name != self.clocking.clock)

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction == "output")
