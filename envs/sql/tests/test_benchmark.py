"""The throughput benchmark returns the rows the lead's table expects."""

from verigym.envs.sql.benchmark import throughput


def test_throughput_rows() -> None:
    rows = throughput(seconds=0.4)
    assert [r["case"] for r in rows] == ["verify", "generate"]
    for row in rows:
        assert set(row) == {"env", "case", "ops_per_s", "baseline", "baseline_ops_per_s"}
        assert row["env"] == "sql-v0" and row["ops_per_s"] > 0 and row["baseline_ops_per_s"] > 0
