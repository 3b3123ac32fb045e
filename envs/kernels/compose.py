"""Procedural problems: seeded compositions of elementwise steps, optionally ending in a row reduction.

Each composition is written out as a KernelBench-format source, so it runs through the same harness as the
curated problems. `compose(seed)` is deterministic in `seed`.
"""

from __future__ import annotations

import random

from verigym.envs.kernels.problem import Problem

# (label, expression in `h`); each keeps values finite for standard-normal inputs
STEPS = (
    ("relu", "torch.relu(h)"),
    ("sigmoid", "torch.sigmoid(h)"),
    ("tanh", "torch.tanh(h)"),
    ("silu", "h * torch.sigmoid(h)"),
    ("scale", "h * {c}"),
    ("shift", "h + {c}"),
    ("square", "h * h"),
    ("abs", "torch.abs(h)"),
    ("clamp", "torch.clamp(h, -{c}, {c})"),
    ("gelu", "torch.nn.functional.gelu(h)"),
)
#: the same steps in Triton (for the procedural oracle)
TRITON_STEPS = {
    "relu": "tl.maximum(h, 0.0)",
    "sigmoid": "1.0 / (1.0 + tl.exp(-h))",
    "tanh": "2.0 / (1.0 + tl.exp(-2.0 * h)) - 1.0",
    "silu": "h / (1.0 + tl.exp(-h))",
    "scale": "h * {c}",
    "shift": "h + {c}",
    "square": "h * h",
    "abs": "tl.abs(h)",
    "clamp": "tl.minimum(tl.maximum(h, -{c}), {c})",
    "gelu": "0.5 * h * (1.0 + tl.math.erf(h * 0.7071067811865476))",
}
REDUCTIONS = (
    (None, "h"),
    ("sum", "torch.sum(h, dim=-1)"),
    ("max", "torch.max(h, dim=-1).values"),
    ("softmax", "torch.softmax(h, dim=-1)"),
    ("mean", "torch.mean(h, dim=-1)"),
)
PREFIX = "composed_"

TEMPLATE = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """{doc}"""

    def __init__(self):
        super().__init__()

    def forward(self, x{extra_arg}):
        h = x{extra_use}
{body}
        return {final}


batch_size = {rows}
dim = {cols}


def get_inputs():
    return [{inputs}]


def get_init_inputs():
    return []
'''


def _draw(seed: int) -> tuple[list[tuple[str, str, float]], tuple, bool, int, int]:
    rng = random.Random(seed)
    steps = [(label, expr, rng.choice((0.5, 1.5, 2.0, 3.0))) for label, expr in rng.sample(STEPS, rng.randint(1, 3))]
    reduction = rng.choice(REDUCTIONS)
    residual = rng.random() < 0.3
    return steps, reduction, residual, rng.choice((8, 16)), rng.choice((64, 128))


def compose(seed: int) -> Problem:
    """A seeded composition: 1-3 elementwise steps (an optional residual input), then an optional reduction."""
    steps, reduction, residual, rows, cols = _draw(seed)
    labels, body = [], []
    for label, expr, c in steps:
        labels.append(f"{label}({c})" if "{c}" in expr else label)
        body.append(f"        h = {expr.format(c=c)}")
    if reduction[0]:
        labels.append(reduction[0])
    inputs = ", ".join(["torch.randn(batch_size, dim)"] * (2 if residual else 1))
    doc = "Composition: " + ("residual add -> " if residual else "") + " -> ".join(labels)
    source = TEMPLATE.format(
        doc=doc,
        extra_arg=", residual" if residual else "",
        extra_use=" + residual" if residual else "",
        body="\n".join(body),
        final=reduction[1],
        rows=rows,
        cols=cols,
        inputs=inputs,
    )
    name = f"{PREFIX}{seed}_" + "_".join(label.split("(")[0] for label in labels)
    return Problem(name, source, "float32", "composed", "composed")


def composed_seed(name: str) -> int | None:
    """The seed of a composed problem's name (None for other names)."""
    head = name.removeprefix(PREFIX).split("_", 1)[0] if name.startswith(PREFIX) else ""
    return int(head) if head.isdigit() else None


ORACLE = '''import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def composed_kernel(x_ptr, r_ptr, out_ptr, n_cols, HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    h = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=0.0)
    if HAS_RESIDUAL:
        h += tl.load(r_ptr + row * n_cols + cols, mask=mask, other=0.0)
{steps}
{finish}


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x{extra_arg}):
        x = x.contiguous()
        n_rows, n_cols = x.shape
        out = torch.empty({out_shape}, dtype=x.dtype, device=x.device)
        composed_kernel[(n_rows,)](x, {residual_arg}, out, n_cols, HAS_RESIDUAL={has_residual},
                                   BLOCK=triton.next_power_of_2(n_cols))
        return out
'''
FINISH = {
    None: "    tl.store(out_ptr + row * n_cols + cols, h, mask=mask)",
    "sum": "    tl.store(out_ptr + row, tl.sum(tl.where(mask, h, 0.0), axis=0))",
    "mean": "    tl.store(out_ptr + row, tl.sum(tl.where(mask, h, 0.0), axis=0) / n_cols)",
    "max": "    tl.store(out_ptr + row, tl.max(tl.where(mask, h, -float('inf')), axis=0))",
    "softmax": "    h = tl.where(mask, h, -float('inf'))\n    e = tl.exp(h - tl.max(h, axis=0))\n"
               "    tl.store(out_ptr + row * n_cols + cols, e / tl.sum(e, axis=0), mask=mask)",
}


def composed_oracle(seed: int) -> str:
    """A hand-derived Triton solution for `compose(seed)`: one program per row, the steps fused."""
    steps, reduction, residual, _, _ = _draw(seed)
    lines = [f"    h = {TRITON_STEPS[label].format(c=c)}" for label, _, c in steps]
    return ORACLE.format(
        steps="\n".join(lines),
        finish=FINISH[reduction[0]],
        extra_arg=", residual" if residual else "",
        out_shape="n_rows, n_cols" if reduction[0] in (None, "softmax") else "(n_rows,)",
        residual_arg="residual.contiguous()" if residual else "x",
        has_residual=residual,
    )
