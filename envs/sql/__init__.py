"""`sql-v0`: text-to-SQL over generated SQLite databases, verified by execution on hidden variants."""

from verigym.envs.sql.task import SqlTask

__all__ = ["SqlTask"]
