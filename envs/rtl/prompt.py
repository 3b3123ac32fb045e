"""The system prompt and the formatting of tool observations."""

from __future__ import annotations

import re

from verigym.envs.rtl.formal import Synthesis, SynthesisFailure
from verigym.envs.rtl.harness import SimRun, SimStatus
from verigym.envs.rtl.record import Comparison
from verigym.envs.rtl.task import RtlTask

SYSTEM = """You are a digital designer. Write a synthesizable Verilog module that meets the spec.
Each turn, send exactly one of:
  <tool_call>{{"name": "simulate", "arguments": {{"code": "module TopModule(...); ... endmodule"}}}}</tool_call>
      compile your design (iverilog) and simulate it against the reference on {visible} test vectors: you see
      compile errors with line numbers, or the first failing vectors (inputs, expected, got, cycle)
  <tool_call>{{"name": "synthesize", "arguments": {{"code": "..."}}}}</tool_call>
      synthesize your design with yosys and see its cell count and logic depth
  <answer>module TopModule(...); ... endmodule</answer>
      submit your final design (ends the episode)
You have {turns} turns; if the last one is a tool call, the design it carries is graded as your submission.
Grading: compiles (weight {w_compiles}); functional (weight {w_functional}): hidden random and directed vectors
over several seeds, the exact port list and widths, and a formal equivalence proof against the reference;
ppa (weight {w_ppa}): yosys cell count and logic depth relative to the reference, only when functional.
Rules: no system tasks other than $display/$write/$strobe/$monitor/$time/$signed/$unsigned/$clog2/$bits, no
compiler directives other than `timescale/`default_nettype (no `include, no macros), no hierarchical names; the
design must not contain delays (#). Outputs must never be x or z."""

_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def strip_fence(text: str) -> str:
    """The design inside a ```verilog fence, if the text is one; else the text unchanged."""
    m = _FENCE.match(text)
    return m.group(1) if m else text


def opening_user(task: RtlTask) -> str:
    return f"Design task ({task.difficulty}):\n\n{task.spec}"


def simulation_feedback(run: SimRun, comparison: Comparison | None, task: RtlTask) -> str:
    """What the agent sees after `simulate`."""
    if run.status is SimStatus.REFUSED:
        return f"Refused: {run.message}."
    if run.status is not SimStatus.RAN or comparison is None:
        return _with_printed(run.message, run)
    unit = "cycle" if task.clocking.sequential else "vector"
    if comparison.problem and comparison.problem.startswith("port widths"):
        return _with_printed(f"Interface error: {comparison.problem}.", run)
    failed = comparison.driven - comparison.matched
    if comparison.passed:
        return _with_printed(f"All {comparison.driven} visible vectors pass. Grading uses other, hidden vectors and a "
                             "formal equivalence proof.", run)
    lines = [f"{failed} of {comparison.driven} visible vectors fail."]
    if comparison.problem:
        lines.append(comparison.problem + ".")
    for m in comparison.mismatches:
        lines.append(f"  {unit} {m.index}: inputs {_show(m.inputs)}; expected {_show(m.expected)}; got {_show(m.got)}")
    if task.clocking.sequential:
        lines.append("(cycles count from 0 after one initial reset cycle; outputs are sampled just before the rising edge)")
    return _with_printed("\n".join(lines), run)


def synthesis_feedback(result: Synthesis | SynthesisFailure) -> str:
    if isinstance(result, SynthesisFailure):
        return f"Synthesis failed: {result.reason}."
    ports = ", ".join(f"{d} [{w}] {n}" for n, (d, w) in result.ports.items())
    return f"Synthesis: {result.cells} cells, logic depth {result.depth}. Ports: {ports}."


def _show(values: dict) -> str:
    return "{" + ", ".join(f"{k}={'x' if v is None else v}" for k, v in values.items()) + "}"


def _with_printed(text: str, run: SimRun) -> str:
    if run.stdout.strip():
        return f"{text}\nYour design printed (last lines):\n{run.stdout[-600:]}"
    return text
