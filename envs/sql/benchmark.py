"""Throughput of sql-v0's verifier and task generator, each next to a bare-SQLite baseline.

`throughput(seconds)` returns rows `{"env", "case", "ops_per_s", "baseline", "baseline_ops_per_s"}`:
`verify` judges a correct answer on the visible database and 4 hidden variants (databases and gold results
warm in the per-process caches, as when a task is rolled out many times); its baseline runs gold and answer
once on a single open connection. `generate` draws a new task (grammar, candidate variants, mutant
selection); its baseline only builds the visible database.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from verigym.envs.sql import database
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.verifier import gold_results, task_databases, verify


def _rate(fn: Callable[[int], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while True:
        fn(count)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def throughput(seconds: float = 2.0) -> list[dict]:
    """Measured operations per second, about `seconds` of work per case and per baseline."""
    share = seconds / 4
    tasks = [generate_task(seed) for seed in range(40)]
    for task in tasks:
        gold_results(task)
    connections = []
    for task in tasks:
        con = sqlite3.connect(":memory:")
        con.deserialize(task_databases(task)[0])
        connections.append(con)

    def verify_one(i: int) -> None:
        task = tasks[i % len(tasks)]
        assert verify(task, task.gold_sql).passed

    def bare_one(i: int) -> None:
        task, con = tasks[i % len(tasks)], connections[i % len(tasks)]
        gold = con.execute(task.gold_sql).fetchall()
        answer = con.execute(task.gold_sql).fetchall()
        assert sorted(map(repr, gold)) == sorted(map(repr, answer))

    rows = [{
        "env": "sql-v0", "case": "verify", "ops_per_s": _rate(verify_one, share),
        "baseline": "bare sqlite execute of gold+answer on one db", "baseline_ops_per_s": _rate(bare_one, share),
    }]
    offset = 10_000 + int(time.time()) % 100_000
    rows.append({
        "env": "sql-v0", "case": "generate", "ops_per_s": _rate(lambda i: generate_task(offset + i), share),
        "baseline": "build the visible database only",
        "baseline_ops_per_s": _rate(lambda i: database.build_database("shop", 900_000 + offset + i, database.VISIBLE), share),
    })
    for con in connections:
        con.close()
    return rows


if __name__ == "__main__":
    for row in throughput():
        print(row)
