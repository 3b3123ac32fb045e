"""The throughput benchmark: row shape, and that each vectorised path beats its baseline."""

from verigym.envs.diagnosis import benchmark


def test_throughput_rows_and_ratios():
    rows = benchmark.throughput(seconds=0.05)
    assert [r["env"] for r in rows] == ["diagnosis-v0"] * 3
    for row in rows:
        assert set(row) == {"env", "case", "ops_per_s", "baseline", "baseline_ops_per_s"}
        assert row["ops_per_s"] > 0 and row["baseline_ops_per_s"] > 0 and row["baseline"]
    verify_row, posterior_row, episode_row = rows
    assert verify_row["ops_per_s"] >= 5000
    assert posterior_row["ops_per_s"] > posterior_row["baseline_ops_per_s"]
    assert episode_row["ops_per_s"] >= 10
