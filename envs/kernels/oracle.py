"""Hand-written Triton solutions (the oracle) for a subset of the curated problems: `solutions/<name>.py`."""

from __future__ import annotations

from pathlib import Path

from verigym.envs.kernels.compose import composed_oracle, composed_seed

SOLUTIONS_DIR = Path(__file__).with_name("solutions")


class NoOracleError(LookupError):
    """The problem has no hand-written solution."""


def oracle_names() -> list[str]:
    """Problems with a hand-written Triton solution."""
    return sorted(p.stem for p in SOLUTIONS_DIR.glob("*.py") if not p.name.startswith("_"))


def oracle_source(name: str) -> str:
    """The hand-written `ModelNew` module for problem `name` (composed problems: derived from their seed)."""
    seed = composed_seed(name)
    if seed is not None:
        return composed_oracle(seed)
    path = SOLUTIONS_DIR / f"{name}.py"
    if not path.is_file():
        raise NoOracleError(f"no hand-written Triton solution for {name!r}; solutions exist for {oracle_names()}")
    return path.read_text()
