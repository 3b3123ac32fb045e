"""The throughput benchmark: row shape, the verification-rate target, and that its sympy baseline judges
answers the same way as the real verifier."""

from verigym.envs.beam_statics import benchmark
from verigym.envs.beam_statics.verifier import verify


def test_throughput_rows_and_target():
    rows = benchmark.throughput(seconds=0.3)
    assert [r["env"] for r in rows] == ["beam-statics-v0"] * 3
    for row in rows:
        assert set(row) == {"env", "case", "ops_per_s", "baseline", "baseline_ops_per_s"}
        assert row["ops_per_s"] > 0 and row["baseline_ops_per_s"] > 0 and row["baseline"]
    verify_row = rows[0]
    assert verify_row["case"].startswith("verify") and verify_row["ops_per_s"] >= 1000
    assert verify_row["ops_per_s"] > verify_row["baseline_ops_per_s"]


def test_sympy_baseline_agrees_with_the_verifier():
    cases = benchmark._answer_cases(24)
    outcomes = [verify(task, text, gold).passed for task, text, gold in cases]
    assert True in outcomes and False in outcomes
    assert [benchmark._sympy_verify(case) for case in cases] == outcomes
