"""The benchmark's rows are well formed (a short run, text mode and, where Chromium runs, browser mode)."""

from __future__ import annotations

import pytest

from verigym.envs.web import benchmark


@pytest.mark.timeout(120)
def test_throughput_rows(chromium) -> None:
    rows = benchmark.throughput(0.05)
    cases = {(r["env"], r["case"]) for r in rows}
    for env_id in ("web-shop-v0", "web-forum-v0"):
        for mode in ("text", "browser"):
            assert (env_id, f"{mode}: oracle steps") in cases and (env_id, f"{mode}: episode start (reset)") in cases
    assert all(r["ops_per_s"] > 0 and r["baseline_ops_per_s"] > 0 for r in rows)
