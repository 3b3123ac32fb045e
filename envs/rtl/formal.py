"""Yosys in the grading session: the candidate's interface and synthesis statistics, and formal equivalence.

- `synthesize`: `read_verilog -sv`, `hierarchy -check`, `proc`, `write_json` (the ports, checked on the host),
  `synth -flatten`, `stat -json` (cell count) and `ltp -noff` (logic depth: the longest combinational path, in
  cells). Results come back as files and are parsed strictly on the host.
- `prove_equivalent`: both designs flattened and joined by `miter -equiv`; combinational designs are proven
  equivalent for every input by `sat -prove-asserts`; clocked designs get a *bounded* proof: registers start at
  zero, reset is asserted in step 1, and the outputs must agree in steps 2..`task.formal_bound` (20; 8 for the
  FIFO, whose memory makes SAT grow fast) for every input sequence
  (`async2sync` models an asynchronous reset). The verdict is yosys's exit status (`sat -verify` fails the run
  when the proof fails), never its text.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from verigym.envs.base import harness_result
from verigym.envs.rtl.task import RtlTask
from verigym.envs.verdict import SandboxFailure
from verigym.sandbox.records import Status

YOSYS_TIMEOUT_S = 60.0
_LTP = re.compile(r"^Longest topological path in \S+ \(length=(\d+)\):", re.MULTILINE)


@dataclass(frozen=True)
class Synthesis:
    """A design's interface (name -> (direction, width)) and its synthesis figures."""

    ports: dict[str, tuple[str, int]]
    cells: int
    depth: int


@dataclass(frozen=True)
class SynthesisFailure:
    """Why a design could not be synthesized; `timed_out` when yosys ran out of time."""

    reason: str
    timed_out: bool = False


@dataclass(frozen=True)
class Equivalence:
    """`proven`: the proof succeeded; otherwise `reason` says why not (counterexample, timeout, yosys error)."""

    proven: bool
    reason: str = ""
    timed_out: bool = False


def synthesize(session, source: str, module: str, timeout_s: float = YOSYS_TIMEOUT_S) -> Synthesis | SynthesisFailure:
    """Synthesize `source` (top `module`) in `session`, or say why it could not be synthesized."""
    n = secrets.token_hex(6)
    session.write_file(f"syn_{n}.v", source)
    script = (f"read_verilog -sv syn_{n}.v\nhierarchy -check -top {module}\nproc\nwrite_json iface_{n}.json\n"
              f"synth -flatten -top {module}\ntee -q -o stat_{n}.json stat -json\ntee -q -o ltp_{n}.txt ltp -noff\n")
    session.write_file(f"syn_{n}.ys", script)
    result = harness_result(session.exec(["yosys", "-q", "-s", f"syn_{n}.ys"], timeout=timeout_s))
    if result.status is Status.TIMEOUT:
        return SynthesisFailure(f"yosys did not finish synthesizing the design within {timeout_s:g} s", timed_out=True)
    if not result.ok:
        errors = [line for line in (result.stderr + result.stdout).splitlines() if "ERROR" in line]
        return SynthesisFailure("yosys could not synthesize the design: "
                                + ("; ".join(errors[:3]) or result.status.value).replace(f"syn_{n}", "design"))
    try:
        iface = json.loads(session.read_file(f"iface_{n}.json", max_bytes=32 * 1024 * 1024))
        stat = json.loads(session.read_file(f"stat_{n}.json", max_bytes=1024 * 1024))
        ltp = session.read_file(f"ltp_{n}.txt", max_bytes=1024 * 1024).decode("utf-8", "replace")
        ports = {name: (str(p["direction"]), len(p["bits"])) for name, p in iface["modules"][module]["ports"].items()}
        cells = stat["modules"][f"\\{module}"]["num_cells"]
        depth = _LTP.search(ltp)
        if not isinstance(cells, int) or depth is None:
            raise ValueError(f"no cell count or path length ({ltp[:200]!r})")
        return Synthesis(ports, cells, int(depth.group(1)))
    except (FileNotFoundError, KeyError, TypeError, ValueError) as exc:
        raise SandboxFailure(f"yosys ran but its result files are unusable: {exc!r}") from exc


def prove_equivalent(session, task: RtlTask, source: str, reference: str, bound: int | None = None,
                     timeout_s: float = YOSYS_TIMEOUT_S) -> Equivalence:
    """Prove `source` equivalent to `reference` (both define `task.module`) with a yosys miter and SAT."""
    n = secrets.token_hex(6)
    session.write_file(f"gold_{n}.v", reference)
    session.write_file(f"gate_{n}.v", source)
    prep = "hierarchy -check -top {top}\nproc\nflatten\nmemory\nopt_clean\nrename {top} {name}\n"
    script = (f"read_verilog -sv gold_{n}.v\n{prep.format(top=task.module, name='vg_gold')}design -stash gold\n"
              f"read_verilog -sv gate_{n}.v\n{prep.format(top=task.module, name='vg_gate')}design -stash gate\n"
              "design -copy-from gold -as vg_gold vg_gold\ndesign -copy-from gate -as vg_gate vg_gate\n"
              "async2sync\nmiter -equiv -flatten -make_assert vg_gold vg_gate vg_miter\nhierarchy -top vg_miter\n")
    c = task.clocking
    bound = bound or task.formal_bound
    if c.sequential:
        script += (f"sat -verify -prove-asserts -set-init-zero -seq {bound} "
                   f"-set-at 1 in_{c.reset} {1 if c.reset_active_high else 0} -prove-skip 1 vg_miter\n")
    else:
        script += "sat -verify -prove-asserts vg_miter\n"
    session.write_file(f"eq_{n}.ys", script)
    result = harness_result(session.exec(["yosys", "-q", "-s", f"eq_{n}.ys"], timeout=timeout_s))
    if result.ok:
        return Equivalence(True)
    if result.status is Status.TIMEOUT:
        return Equivalence(False, f"the equivalence proof did not finish within {timeout_s:g} s", timed_out=True)
    failed = "proof did fail" in result.stderr + result.stdout
    return Equivalence(False, "not equivalent to the reference (the SAT solver found a counterexample)" if failed
                       else "yosys could not build the equivalence check for the design")


def interface_problem(task: RtlTask, synthesis: Synthesis) -> str:
    """Why the synthesized ports differ from the spec's ("" when they match exactly)."""
    want = {p.name: (p.direction, p.width) for p in task.ports}
    if synthesis.ports == want:
        return ""
    missing = sorted(set(want) - set(synthesis.ports))
    extra = sorted(set(synthesis.ports) - set(want))
    wrong = sorted(k for k in set(want) & set(synthesis.ports) if want[k] != synthesis.ports[k])
    parts = ([f"missing ports {missing}"] if missing else []) + ([f"extra ports {extra}"] if extra else []) + (
        [f"{k} is {synthesis.ports[k][0]} [{synthesis.ports[k][1]} bits], the spec says {want[k][0]} [{want[k][1]} bits]"
         for k in wrong])
    return "the interface differs from the spec: " + "; ".join(parts)
