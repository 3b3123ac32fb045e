"""Timing logic for GPU grading, kept apart from CUDA so it is unit-tested on the CPU.

Stdlib only: the harness ships this file into the sandbox next to itself. `measure` takes a clock object
(`start()` -> token, `stop(token)` -> milliseconds); on a GPU that is `CudaEventClock` (CUDA events on the
current stream), in tests a fake clock.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any, Protocol

SUSPICIOUS_SPEEDUP = 10.0  # speedups above this are flagged in the verdict (likely a skipped computation)


class Clock(Protocol):
    def start(self) -> Any: ...

    def stop(self, token: Any) -> float: ...


def measure(fn: Callable[[], None], clock: Clock, flush: Callable[[], None], warmup: int, reps: int) -> list[float]:
    """Run `fn` `warmup` times untimed, then `reps` times, each after `flush()` (the L2 flush), each timed
    alone by `clock`; the per-run times in milliseconds."""
    if warmup < 0 or reps < 1:
        raise ValueError(f"need warmup >= 0 and reps >= 1, got {warmup}, {reps}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        flush()
        token = clock.start()
        fn()
        samples.append(float(clock.stop(token)))
    return samples


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median (the figure used), min, max and count of timing samples (ms)."""
    if not samples or any(s < 0 for s in samples):
        raise ValueError(f"timing samples must be a non-empty list of non-negative ms, got {list(samples)[:5]}")
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def speedup(reference_ms: float, candidate_ms: float) -> float:
    """How many times faster the candidate ran than the reference (median vs median)."""
    if reference_ms <= 0:
        raise ValueError(f"the reference's time must be positive, got {reference_ms}")
    return reference_ms / max(candidate_ms, 1e-6)


def speedup_score(value: float, cap: float) -> float:
    """The `speedup` reward component: 0 at (or below) parity, rising linearly to 1 at `cap`x, capped there."""
    if cap <= 1:
        raise ValueError(f"speedup cap must exceed 1, got {cap}")
    return min(1.0, max(0.0, (value - 1.0) / (cap - 1.0)))


def is_suspicious(value: float) -> bool:
    """Speedups above SUSPICIOUS_SPEEDUP are flagged for review in the verdict."""
    return value > SUSPICIOUS_SPEEDUP


class CudaEventClock:
    """CUDA-event timing on the current stream (GPU only; built inside the sandbox harness)."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def start(self) -> Any:
        begin = self.torch.cuda.Event(enable_timing=True)
        end = self.torch.cuda.Event(enable_timing=True)
        begin.record()
        return begin, end

    def stop(self, token: Any) -> float:
        begin, end = token
        end.record()
        end.synchronize()
        return float(begin.elapsed_time(end))
