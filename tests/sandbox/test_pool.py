"""The warm pool: instant acquire, never reused, replaced in the background, bounded creation, TTL sweep."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from verigym.sandbox.pool import WarmPool

pytestmark = pytest.mark.timeout(180)


def test_acquire_is_near_instant_and_sessions_are_never_reused(backend, host_state):
    with WarmPool(backend.open, size=3, max_concurrent_creates=2) as pool:
        pool.wait_ready()
        seen, waits = set(), []
        for i in range(6):
            pool.wait_ready()
            start = time.perf_counter()
            session = pool.acquire()
            waits.append(time.perf_counter() - start)
            assert session.id not in seen
            seen.add(session.id)
            assert session.exec("ls").stdout == "", "a pooled sandbox must start empty"
            session.write_file("left-behind.txt", f"episode {i}")
            pool.release(session)
        assert statistics.median(waits) < 0.005, waits


def test_released_sessions_are_destroyed_and_replaced(backend, host_state):
    with WarmPool(backend.open, size=2, max_concurrent_creates=2) as pool:
        pool.wait_ready()
        session = pool.acquire()
        pool.release(session)
        deadline = time.monotonic() + 30
        while not session.closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session.closed
        pool.wait_ready(2, timeout=60)


def test_creation_is_bounded():
    active, peak, lock = 0, 0, threading.Lock()

    class Fake:
        closed = False

        def __init__(self) -> None:
            self.created_at = time.monotonic()
            self.id = str(id(self))

        def close(self) -> None:
            self.closed = True

    def factory() -> Fake:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return Fake()

    with WarmPool(factory, size=8, max_concurrent_creates=3) as pool:
        pool.wait_ready()
    assert peak == 3


def test_ttl_sweep_replaces_expired_sessions(local_backend, host_state):
    with WarmPool(local_backend.open, size=2, max_concurrent_creates=2, ttl_s=0.5) as pool:
        pool.wait_ready()
        first = set()
        while not first:
            first = {s.id for s in list(pool._ready.queue)}
        time.sleep(1.5)
        pool.wait_ready()
        now = {s.id for s in list(pool._ready.queue)}
        assert now and not (first & now), "expired sessions must be swept and replaced"


def test_creation_errors_surface_in_acquire():
    def broken():
        raise OSError("no sandbox for you")

    with WarmPool(broken, size=1) as pool:
        with pytest.raises(TimeoutError, match="no sandbox for you"):
            pool.acquire(timeout=1.5)
