"""The harness-generated testbench: drives a stimulus file, records the DUT's outputs per vector to a file.

Everything the testbench names carries a per-run random nonce (module, stimulus file, record file). The record
is: an `IFACE` line with `$bits` of every DUT port, one line per vector with each output in binary (`%b`, so x/z
stay visible), and `END <count>` after the last vector. The host parses it strictly (`record.py`); the
simulator's stdout is never read for the verdict. With `reference` set, a second instance (the reference module,
renamed to a random name) is recorded on the same line, for side-by-side grading.

Timing: combinational, inputs change at t, outputs are recorded at t+5, next vector at t+10. Clocked, one
unrecorded reset cycle first; then per cycle: inputs change while the clock is low, outputs are recorded 4 time
units later, the clock rises 1 unit after that and falls 5 units later (period 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from verigym.envs.rtl.model import Vector
from verigym.envs.rtl.task import RtlTask


@dataclass(frozen=True)
class Bench:
    """The files of one simulation run (names inside the sandbox workdir)."""

    nonce: str
    top: str
    testbench: str
    stimulus: str
    record: str
    design: str
    reference: str


def bench_files(nonce: str) -> Bench:
    return Bench(nonce, f"tb_{nonce}", f"tb_{nonce}.v", f"stim_{nonce}.mem", f"rec_{nonce}.txt",
                 f"design_{nonce}.v", f"ref_{nonce}.v")


def stimulus_text(task: RtlTask, vectors: Sequence[Vector]) -> str:
    """One line per vector: the inputs (task order, clock excluded) concatenated in binary."""
    return "".join(("".join(format(v[p.name], f"0{p.width}b") for p in task.inputs) or "0") + "\n" for v in vectors)


def _range(width: int) -> str:
    return f" [{width - 1}:0]" if width > 1 else ""


def testbench(task: RtlTask, n_vectors: int, bench: Bench, reference_module: str | None = None,
              finish: bool = True, design_module: str | None = None) -> str:
    """The testbench source for `n_vectors` vectors (a `reference_module` adds the side-by-side instance).

    `finish=False` leaves out the final `$finish` (the run then ends when no events remain) and `design_module`
    renames the DUT's module: both only for batch validation of trusted designs (`validate.py`), where many
    testbenches share one simulation."""
    n = bench.nonce
    clock = task.clocking.clock
    inputs, outputs = task.inputs, task.outputs
    width = sum(p.width for p in inputs)
    lines = [f"module {bench.top};"]
    if clock:
        lines.append(f"  reg t{n}_{clock};")
    lines += [f"  reg{_range(p.width)} t{n}_{p.name};" for p in inputs]
    lines += [f"  wire{_range(p.width)} t{n}_{p.name};" for p in outputs]
    conn = ", ".join(f".{p.name}(t{n}_{p.name})" for p in task.ports)
    lines.append(f"  {design_module or task.module} dut_{n}({conn});")
    if reference_module:
        lines += [f"  wire{_range(p.width)} r{n}_{p.name};" for p in outputs]
        rconn = ", ".join(f".{p.name}({'r' if p.direction == 'output' else 't'}{n}_{p.name})" for p in task.ports)
        lines.append(f"  {reference_module} ref_{n}({rconn});")
    lines += [f"  reg [{max(width, 1) - 1}:0] s{n} [0:{max(n_vectors, 1) - 1}];", f"  integer i{n}, f{n};"]
    fmt = " ".join(["%b"] * len(outputs) * (2 if reference_module else 1))
    args = [f"t{n}_{p.name}" for p in outputs] + ([f"r{n}_{p.name}" for p in outputs] if reference_module else [])
    iface = " ".join("%0d" for _ in task.ports)
    iface_args = ", ".join(f"$bits(dut_{n}.{p.name})" for p in task.ports)
    assign = "{" + ", ".join(f"t{n}_{p.name}" for p in inputs) + "}" if inputs else None
    lines += [
        "  initial begin",
        f'    $readmemb("{bench.stimulus}", s{n});',
        f'    f{n} = $fopen("{bench.record}", "w");',
        f'    $fwrite(f{n}, "IFACE {iface}\\n", {iface_args});',
    ]
    if clock:
        c = task.clocking
        lines.append(f"    t{n}_{clock} = 0;")
        lines += [f"    t{n}_{p.name} = 0;" for p in inputs if p.name != c.reset]
        lines += [f"    t{n}_{c.reset} = {1 if c.reset_active_high else 0};", f"    #5 t{n}_{clock} = 1;",
                  f"    #5 t{n}_{clock} = 0;"]
    lines += [f"    for (i{n} = 0; i{n} < {n_vectors}; i{n} = i{n} + 1) begin"]
    if assign:
        lines.append(f"      {assign} = s{n}[i{n}];")
    if clock:
        lines += [f'      #4 $fwrite(f{n}, "{fmt}\\n", {", ".join(args)});', f"      #1 t{n}_{clock} = 1;",
                  f"      #5 t{n}_{clock} = 0;"]
    else:
        lines += [f'      #5 $fwrite(f{n}, "{fmt}\\n", {", ".join(args)});', "      #5;"]
    lines += [
        "    end",
        f'    $fwrite(f{n}, "END %0d\\n", i{n});',
        f"    $fclose(f{n});",
        *(["    $finish;"] if finish else []),
        "  end",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"
