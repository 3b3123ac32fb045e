"""Every curated reference (and a few compositions) runs soundly in the harness (CI: 2 seeds; the script: 50)."""

from __future__ import annotations

import pytest

from verigym.envs.kernels.problem import curated_problems
from verigym.envs.kernels.validate import validate


@pytest.mark.timeout(900)
def test_every_curated_reference_is_sound_in_the_harness(local_providers):
    checks = validate(seeds=2, composed=3, oracle=False, backend="local", batch=64)
    expected = [p.name for p in curated_problems() if p.dtype != "bfloat16"]
    assert [c.name for c in checks][: len(expected)] == expected and len(checks) == len(expected) + 3
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
