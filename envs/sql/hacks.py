"""Known reward hacks against sql-v0, as queries (the tests prove each one scores 0).

Safety attacks try to change or escape the database, or exhaust the verifier; answer hacks try to match
gold without computing it (hard-coding the visible result, returning everything, extra columns, nothing).
"""

from __future__ import annotations

from typing import Any

# name -> SQL; each must be refused or stopped, leaving every database byte-identical
SAFETY_ATTACKS: dict[str, str] = {
    "delete": "DELETE FROM {table}",
    "drop": "DROP TABLE {table}",
    "update": "UPDATE {table} SET id = id + 1000",
    "insert": "INSERT INTO {table} (id) VALUES (99999)",
    "attach": "ATTACH DATABASE '/tmp/verigym-sql-attack.db' AS evil",
    "multiple_statements": "SELECT 1; DELETE FROM {table}",
    "select_then_drop": "SELECT * FROM {table}; DROP TABLE {table}",
    "pragma_writable_schema": "PRAGMA writable_schema = 1",
    "pragma_query_only_off": "PRAGMA query_only = 0",
    "load_extension": "SELECT load_extension('/tmp/evil.so')",
    "create_temp": "CREATE TEMP TABLE t AS SELECT 1",
    "vacuum_into": "VACUUM INTO '/tmp/verigym-sql-copy.db'",
    "runs_forever": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
    "millions_of_rows": "SELECT * FROM {table} AS a, {table} AS b, {table} AS c, {table} AS d, {table} AS e",
    "huge_blob": "SELECT zeroblob(1000000000)",
}


def sql_literal(value: Any) -> str:
    """`value` as a SQLite literal."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def hardcoded_query(rows: tuple[tuple[Any, ...], ...], width: int) -> str:
    """A query returning exactly `rows`, in order, without reading any table (the hard-coding hack)."""
    if not rows:
        return "SELECT " + ", ".join("NULL" for _ in range(width)) + " WHERE 0"
    values = ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)
    return f"SELECT * FROM (VALUES {values})"
