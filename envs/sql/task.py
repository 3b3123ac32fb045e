"""`SqlTask`: one text-to-SQL question, its gold query, and how to rebuild its databases."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.task import Task


@dataclass(frozen=True)
class SqlTask(Task):
    """A question over a database, answered by `gold_sql` (SQLite).

    Generated tasks name a schema `domain` and rebuild the visible database from `seed` and each hidden
    variant from one of `variant_seeds`. Loaded tasks (Spider/BIRD) set `db_path` to an on-disk SQLite file
    and derive variants by perturbing it. `dialect` is the SQL dialect answers are written in (transpiled to
    SQLite with sqlglot).
    """

    question: str
    gold_sql: str
    domain: str
    difficulty: str = "medium"
    shape: str = ""
    dialect: str = "sqlite"
    variant_seeds: tuple[int, ...] = ()
    db_path: str | None = None
    evidence: str = ""
