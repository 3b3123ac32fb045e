"""The benchmark runs and compares grading with a bare iverilog run measured in the same call."""

from __future__ import annotations

import pytest

from verigym.envs.rtl.benchmark import throughput

pytestmark = pytest.mark.timeout(300)


def test_throughput_reports_grading_beside_bare_iverilog(local_providers) -> None:
    (row,) = throughput(0.1, backends=("local",))
    assert row["env"] == "rtl-verilog-v0" and "local" in row["case"]
    assert row["ops_per_s"] > 0 and row["baseline_ops_per_s"] > 0
    assert row["p99_s"] >= row["p50_s"] > 0 and row["baseline_p50_s"] > 0
    assert row["p50_s"] > row["baseline_p50_s"]  # grading does strictly more than one bare compile + run
