"""Shared fixture for sql-v0 tests: a pool of 500 generated tasks."""

from __future__ import annotations

import pytest

from verigym.envs.sql.generator import Selection, generate_with_stats
from verigym.envs.sql.task import SqlTask


@pytest.fixture(scope="session")
def generated() -> list[tuple[SqlTask, Selection]]:
    """Tasks for seeds 0..499 (every domain and difficulty) with their variant statistics."""
    return [generate_with_stats(seed) for seed in range(500)]
