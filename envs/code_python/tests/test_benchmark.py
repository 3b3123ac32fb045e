"""The benchmark runs and reports grading p50/p99 and gradings/s beside the bare python3 baseline."""

from __future__ import annotations

import pytest

from verigym.envs.code_python.benchmark import throughput


@pytest.mark.timeout(120)
def test_throughput_rows_carry_latencies_and_the_baseline(local_providers) -> None:
    (row,) = throughput(0.05, backends=("local",))
    assert row["env"] == "code-python-v0" and "local" in row["case"] and "p99" in row["case"]
    assert row["ops_per_s"] > 0 and row["baseline_ops_per_s"] > 0
    assert 0 < row["p50_s"] <= row["p99_s"] and 0 < row["baseline_p50_s"] <= row["baseline_p99_s"]
