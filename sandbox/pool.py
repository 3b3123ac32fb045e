"""A warm pool: N sandbox sessions created ahead of time, so acquiring one is near-instant.

A session is never reused: released (or expired) sessions are destroyed and replaced in the background, with
at most `max_concurrent_creates` sessions being created at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from verigym.sandbox.errors import SandboxError
from verigym.sandbox.session import Session


class WarmPool:
    """Keeps `size` fresh sessions from `factory` ready; `acquire()` hands one out and orders its replacement."""

    def __init__(
        self, factory: Callable[[], Session], size: int = 4, max_concurrent_creates: int = 2, ttl_s: float = 600.0
    ) -> None:
        if size < 1 or max_concurrent_creates < 1:
            raise ValueError("WarmPool needs size >= 1 and max_concurrent_creates >= 1")
        self.factory, self.size, self.ttl_s = factory, size, ttl_s
        self._ready: queue.Queue[Session] = queue.Queue()
        self._creators = ThreadPoolExecutor(max_concurrent_creates, thread_name_prefix="sandbox-create")
        self._destroyers = ThreadPoolExecutor(max_concurrent_creates, thread_name_prefix="sandbox-destroy")
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self.errors: list[str] = []  # creation failures, newest last (also raised by acquire when nothing is ready)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sandbox-pool-ttl", daemon=True)
        self._refill()
        self._sweeper.start()

    # -- public ----------------------------------------------------------------------------------------------
    def acquire(self, timeout: float = 120.0) -> Session:
        """A fresh session (waits for one when none is ready); close it, or `release()` it, when done."""
        deadline = time.monotonic() + timeout
        while True:
            if self._closed:
                raise SandboxError("the warm pool is closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = f"; last creation error: {self.errors[-1]}" if self.errors else ""
                raise TimeoutError(f"no sandbox became ready within {timeout:.0f} s{detail}")
            try:
                session = self._ready.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                self._refill()
                continue
            if self._expired(session) or session.closed:
                self._discard(session)
                continue
            self._refill()
            return session

    def release(self, session: Session) -> None:
        """Destroy `session` in the background (it is never handed out again)."""
        self._discard(session)

    def ready(self) -> int:
        return self._ready.qsize()

    def wait_ready(self, n: int | None = None, timeout: float = 120.0) -> None:
        """Block until `n` (default: all) sessions are ready."""
        n = self.size if n is None else n
        deadline = time.monotonic() + timeout
        while self._ready.qsize() < n:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {self._ready.qsize()}/{n} sandboxes ready after {timeout:.0f} s: {self.errors[-1:]}"
                )
            time.sleep(0.01)

    def close(self) -> None:
        """Destroy every ready session and stop the background threads."""
        self._closed = True
        self._stop.set()
        self._creators.shutdown(wait=True, cancel_futures=True)
        while True:
            try:
                self._ready.get_nowait().close()
            except queue.Empty:
                break
        self._destroyers.shutdown(wait=True)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- background ------------------------------------------------------------------------------------------
    def _expired(self, session: Session) -> bool:
        return time.monotonic() - session.created_at > self.ttl_s

    def _discard(self, session: Session) -> None:
        if self._closed:
            session.close()
            return
        self._destroyers.submit(session.close)
        self._refill()

    def _refill(self) -> None:
        with self._lock:
            if self._closed:
                return
            missing = self.size - self._ready.qsize() - self._pending
            for _ in range(max(missing, 0)):
                self._pending += 1
                self._creators.submit(self._create_one)

    def _create_one(self) -> None:
        try:
            session = None if self._closed else self.factory()
        except Exception as exc:  # creation failures are recorded and surfaced by acquire(); the pool retries
            self.errors.append(f"{type(exc).__name__}: {exc}")
            del self.errors[:-20]
            session = None
            time.sleep(0.5)
        finally:
            with self._lock:
                self._pending -= 1
        if session is None:
            return
        if self._closed:
            session.close()
        else:
            self._ready.put(session)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(max(min(self.ttl_s / 4, 30.0), 0.05)):
            keep = []
            while True:
                try:
                    session = self._ready.get_nowait()
                except queue.Empty:
                    break
                if self._expired(session):
                    self._destroyers.submit(session.close)
                else:
                    keep.append(session)
            for session in keep:
                self._ready.put(session)
            self._refill()
