"""Stimulus: directed corner vectors and seeded random vectors, for the visible (feedback) and hidden (grading) sets.

Combinational tasks: corners (all zeros, all ones, each input alone at its maximum, alternating bits) then random
vectors; hidden sets are exhaustive when the inputs have at most `EXHAUSTIVE_BITS` bits. Sequential tasks: segments
of cycles, each starting with reset asserted, resets sprinkled rarely, 1-bit controls drawn with a per-segment bias.
The hidden seeds are derived from the task seed with a salt the feedback never uses.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass

from verigym.envs.rtl.model import Vector
from verigym.envs.rtl.task import RtlTask
from verigym.envs.rtl.templates import load_all, mask

EXHAUSTIVE_BITS = 12
RESET_RATE = 0.03
_BIASES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class VectorPlan:
    """How many vectors to draw: `segments` random streams of `per_segment` vectors each."""

    segments: int
    per_segment: int


VISIBLE = {"comb": VectorPlan(1, 24), "seq": VectorPlan(1, 64)}
HIDDEN = {"comb": VectorPlan(3, 200), "seq": VectorPlan(3, 300)}


def visible_vectors(task: RtlTask) -> list[Vector]:
    """The vectors the agent's `simulate` tool runs (and whose failures it shows)."""
    return _vectors(task, VISIBLE, salt=1, exhaustive=False)


def hidden_vectors(task: RtlTask, plan: dict[str, VectorPlan] | None = None) -> list[Vector]:
    """The grading vectors: never shown; different random draws, more of them, several seeds."""
    return _vectors(task, plan or HIDDEN, salt=7_919, exhaustive=True)


def _vectors(task: RtlTask, plans: dict[str, VectorPlan], salt: int, exhaustive: bool) -> list[Vector]:
    if task.clocking.sequential:
        plan = plans["seq"]
        return [v for k in range(plan.segments) for v in _segment(task, random.Random(f"{task.seed}:{salt}:{k}"), plan.per_segment, k)]
    plan = plans["comb"]
    inputs = task.inputs
    bits = sum(p.width for p in inputs)
    if exhaustive and bits <= EXHAUSTIVE_BITS:
        ranges = [range(1 << p.width) for p in inputs]
        return [dict(zip([p.name for p in inputs], combo)) for combo in itertools.product(*ranges)]
    vectors = _corners(task)
    for k in range(plan.segments):
        rng = random.Random(f"{task.seed}:{salt}:{k}")
        vectors += [{p.name: rng.getrandbits(p.width) for p in inputs} for _ in range(plan.per_segment)]
    return vectors


def _corners(task: RtlTask) -> list[Vector]:
    inputs = task.inputs
    vectors = [{p.name: 0 for p in inputs}, {p.name: mask(p.width) for p in inputs}]
    for port in inputs:
        vectors.append({p.name: mask(p.width) if p is port else 0 for p in inputs})
    for pattern in (0x5555_5555, 0xAAAA_AAAA):
        vectors.append({p.name: pattern & mask(p.width) for p in inputs})
    return vectors


def _segment(task: RtlTask, rng: random.Random, n: int, index: int) -> list[Vector]:
    c = task.clocking
    on, off = (1, 0) if c.reset_active_high else (0, 1)
    bias: dict[str, float] = {}
    if task.source == "generated":
        template_bias = load_all()[task.template].bias
        bias = template_bias(json.loads(task.params_json)) if template_bias else {}
    data = [p for p in task.inputs if p.name != c.reset]
    chance = {p.name: bias.get(p.name, 0.5) if index == 0 else rng.choice(_BIASES) for p in data if p.width == 1}
    vectors = []
    for cycle in range(n):
        vector = {p.name: (int(rng.random() < chance[p.name]) if p.width == 1 else rng.getrandbits(p.width)) for p in data}
        vector[c.reset] = on if cycle == 0 or (index > 0 and rng.random() < RESET_RATE) else off
        vectors.append(vector)
    return vectors
