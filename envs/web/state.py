"""Database snapshots and diffs: what an episode changed, row by row and column by column."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
Snapshot = dict[str, dict[int, Row]]


def snapshot(db: sqlite3.Connection, ignore: frozenset[str] = frozenset()) -> Snapshot:
    """Every row of every table (except `ignore`), keyed by rowid, as plain dicts."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out: Snapshot = {}
    for table in tables:
        if table in ignore or table.startswith("sqlite_"):
            continue
        cursor = db.execute(f'SELECT rowid AS "__rowid__", * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        out[table] = {row[0]: dict(zip(names[1:], row[1:])) for row in cursor}
    return out


@dataclass(frozen=True)
class Update:
    """Column `column` of row `key` in `table` went from `old` to `new`."""

    table: str
    key: int
    column: str
    old: Any
    new: Any


@dataclass
class Diff:
    """Inserted and deleted rows, and changed columns of kept rows."""

    inserted: dict[str, dict[int, Row]] = field(default_factory=dict)
    deleted: dict[str, dict[int, Row]] = field(default_factory=dict)
    updated: list[Update] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.inserted or self.deleted or self.updated)

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (for verdict details)."""
        return {
            "inserted": {t: sorted(rows) for t, rows in self.inserted.items()},
            "deleted": {t: sorted(rows) for t, rows in self.deleted.items()},
            "updated": [f"{u.table}[{u.key}].{u.column}: {u.old!r} -> {u.new!r}" for u in self.updated],
        }


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """What changed from `before` to `after` (a table that appeared or vanished counts as all rows)."""
    out = Diff()
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        added = {k: new[k] for k in new.keys() - old.keys()}
        removed = {k: old[k] for k in old.keys() - new.keys()}
        if added:
            out.inserted[table] = added
        if removed:
            out.deleted[table] = removed
        for key in sorted(old.keys() & new.keys()):
            for column in sorted(set(old[key]) | set(new[key])):
                if old[key].get(column) != new[key].get(column):
                    out.updated.append(Update(table, key, column, old[key].get(column), new[key].get(column)))
    return out
