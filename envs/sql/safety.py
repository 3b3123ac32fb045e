"""Read-only, bounded query execution.

Two independent layers: `prepare_query` accepts exactly one read-only query (checked with sqlglot, and
transpiled to SQLite from the task's dialect), and `connect_readonly` + `run_query` execute it on a private
in-memory copy with `PRAGMA query_only`, an authorizer that permits only reads, a wall-clock limit (a
progress handler) and a row limit. Either layer alone keeps the database byte-identical.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage"}
_WRITE_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Pragma, exp.Command,
                exp.Merge, exp.TruncateTable)
DIALECTS = ("sqlite", "postgres", "duckdb", "mysql", "bigquery", "snowflake", "spark", "tsql")


class InvalidQuery(ValueError):
    """The text is not exactly one read-only SQL query; the message says what to change."""


@dataclass(frozen=True)
class QueryLimits:
    """Per-query bounds: wall-clock seconds, rows fetched, characters of SQL."""

    time_s: float = 1.0
    max_rows: int = 10_000
    max_sql_chars: int = 10_000


@dataclass(frozen=True)
class QueryResult:
    """Rows and column names of one query, or why it failed (`error_kind`: timeout, too_many_rows, runtime)."""

    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def strip_fences(text: str) -> str:
    """Remove a surrounding ``` code fence and trailing semicolons/whitespace."""
    text = text.strip()
    match = _FENCE.match(text)
    if match:
        text = match.group(1)
    return text.strip().rstrip(";").strip()


def prepare_query(sql: str, dialect: str = "sqlite", limits: QueryLimits = QueryLimits()) -> str:
    """The SQLite text to run for `sql`, which must be exactly one read-only query in `dialect`."""
    if dialect not in DIALECTS:
        raise InvalidQuery(f"unsupported dialect {dialect!r}; use one of {DIALECTS}")
    text = strip_fences(sql)
    if not text:
        raise InvalidQuery("the SQL is empty; write one SELECT query")
    if len(text) > limits.max_sql_chars:
        raise InvalidQuery(f"the SQL is {len(text)} characters; the limit is {limits.max_sql_chars}")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise InvalidQuery(f"could not parse the SQL as {dialect}: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise InvalidQuery(f"found {len(statements)} SQL statements; send exactly one SELECT query")
    tree = statements[0]
    if isinstance(tree, _WRITE_NODES + (exp.Transaction, exp.Set, exp.Use)):
        raise InvalidQuery(f"only read-only queries (SELECT, WITH ... SELECT, set operations) are allowed, got {tree.key.upper()}")
    if not isinstance(tree, exp.Query):
        raise InvalidQuery(f"the text is not a SQL query (it parses as a bare {tree.key.upper()} expression); write one SELECT")
    bad = next(iter(tree.find_all(*_WRITE_NODES)), None)
    if bad is not None:
        raise InvalidQuery(f"the query contains a {bad.key.upper()} statement; only reads are allowed")
    if dialect == "sqlite":
        return text
    try:
        return tree.sql(dialect="sqlite")
    except sqlglot.errors.SqlglotError as exc:
        raise InvalidQuery(f"could not translate the {dialect} query to SQLite: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_readonly(data: bytes) -> sqlite3.Connection:
    """A private in-memory copy of serialized database `data` that refuses every write."""
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.deserialize(data)
    con.execute("PRAGMA query_only = ON")
    con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)
    con.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000)
    con.set_authorizer(_authorize)
    return con


def run_query(con: sqlite3.Connection, sql: str, limits: QueryLimits = QueryLimits()) -> QueryResult:
    """Run `sql` on a `connect_readonly` connection within `limits`; failures come back in the result."""
    deadline = time.perf_counter() + limits.time_s
    timed_out = False

    def progress() -> int:
        nonlocal timed_out
        timed_out = time.perf_counter() > deadline
        return 1 if timed_out else 0

    con.set_progress_handler(progress, 2000)
    try:
        cursor = con.execute(sql)
        rows = cursor.fetchmany(limits.max_rows + 1)
        if len(rows) > limits.max_rows:
            return QueryResult(error=f"the query returns more than {limits.max_rows} rows", error_kind="too_many_rows")
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns, tuple(rows))
    except (sqlite3.Error, sqlite3.Warning, OverflowError, MemoryError) as exc:
        if timed_out:
            return QueryResult(error=f"the query ran longer than {limits.time_s:g}s and was stopped", error_kind="timeout")
        return QueryResult(error=f"{type(exc).__name__}: {exc}", error_kind="runtime")
    finally:
        con.set_progress_handler(None, 0)


def execute(data: bytes, sql: str, dialect: str = "sqlite", limits: QueryLimits = QueryLimits()) -> QueryResult:
    """Check, translate and run one query on a fresh read-only copy of `data` (never raises for bad SQL)."""
    try:
        text = prepare_query(sql, dialect, limits)
    except InvalidQuery as exc:
        return QueryResult(error=str(exc), error_kind="invalid")
    con = connect_readonly(data)
    try:
        return run_query(con, text, limits)
    finally:
        con.close()
