"""Host-side comparison of a candidate's outputs with the reference's, from the raw bytes both sent back."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.kernels.grading import TensorData

#: (atol, rtol) per output dtype: |candidate - reference| <= atol + rtol * |reference|, elementwise.
TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-3, 1e-3),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
    "float64": (1e-6, 1e-6),
}


@dataclass(frozen=True)
class OutputCheck:
    """How one output compared: `ok`, and the max/mean absolute difference (None when shapes or dtypes differ)."""

    index: int
    ok: bool
    max_abs_diff: float | None
    mean_abs_diff: float | None
    problem: str = ""

    def describe(self) -> str:
        if self.problem:
            return f"output {self.index}: {self.problem}"
        verdict = "ok" if self.ok else "MISMATCH"
        return f"output {self.index}: {verdict} (max abs diff {self.max_abs_diff:.3g}, mean {self.mean_abs_diff:.3g})"


def compare_outputs(candidate: tuple[TensorData, ...], reference: tuple[TensorData, ...]) -> list[OutputCheck]:
    """One check per reference output (plus one for a wrong output count)."""
    import torch

    checks = []
    if len(candidate) != len(reference):
        checks.append(OutputCheck(-1, False, None, None, f"{len(candidate)} outputs, expected {len(reference)}"))
    for i, (got, want) in enumerate(zip(candidate, reference, strict=False)):
        if got.dtype != want.dtype or got.shape != want.shape:
            problem = f"dtype/shape {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
            checks.append(OutputCheck(i, False, None, None, problem))
            continue
        a, b = got.to_torch(), want.to_torch()
        if not a.is_floating_point():
            equal = bool(torch.equal(a, b))
            diff = (a.to(torch.float64) - b.to(torch.float64)).abs()
            checks.append(OutputCheck(i, equal, _max(diff), _mean(diff)))
            continue
        atol, rtol = TOLERANCES.get(want.dtype, TOLERANCES["float32"])
        a64, b64 = a.to(torch.float64), b.to(torch.float64)
        both_nan = torch.isnan(a64) & torch.isnan(b64)
        same_inf = torch.isinf(b64) & (a64 == b64)
        diff = (a64 - b64).abs()
        close = (diff <= atol + rtol * b64.abs()) | both_nan | same_inf
        finite = diff[~(both_nan | same_inf)]
        finite = torch.where(torch.isnan(finite), torch.full_like(finite, float("inf")), finite)
        checks.append(OutputCheck(i, bool(close.all()), _max(finite), _mean(finite)))
    return checks


def _max(diff) -> float:
    return float(diff.max()) if diff.numel() else 0.0


def _mean(diff) -> float:
    return float(diff.mean()) if diff.numel() else 0.0
