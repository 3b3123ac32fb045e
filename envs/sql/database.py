"""Deterministic SQLite databases: the visible one an agent explores and hidden variants that test answers.

A database is a pure function of (domain, seed, profile, literal hints) and is built once per process into
an in-memory SQLite file whose bytes are cached (`serialize()`); every query then runs on a fresh
`deserialize()`d copy, so nothing an answer does can reach the cached bytes.

Variant profiles are built to separate near-miss queries: tiny tables, narrow value pools (duplicates, so
a missing DISTINCT shows), many NULLs, the query's own literals planted at and around the boundary (so
`>` vs `>=` shows), and sparse or dangling foreign keys (so INNER vs LEFT JOIN shows).
"""

from __future__ import annotations

import functools
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from verigym.envs.sql.schemas import Column, Table, get_domain

Hints = tuple[tuple[str, tuple[Any, ...]], ...]

FIRST = ("Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Nia", "Omar",
         "Pia", "Quin", "Rui", "Sol", "Tess", "Uma", "Vik", "Wen", "Xia", "Yara", "Zed")
LAST = ("Abe", "Brandt", "Costa", "Diaz", "Eze", "Fox", "Gray", "Holm", "Ito", "Jovic", "Kim", "Lund", "Mora",
        "Ng", "Otto", "Park", "Quist", "Rossi", "Sato", "Tran", "Ueda", "Voss", "Wolf", "Young")
ADJ = ("Amber", "Bold", "Calm", "Deep", "Early", "Fast", "Grand", "High", "Iron", "Jade", "Keen", "Lunar",
       "Mild", "North", "Open", "Prime", "Quiet", "Red", "Silver", "True", "Urban", "Vivid", "Wild", "Young")
NOUN = ("Arrow", "Bridge", "Cloud", "Dune", "Echo", "Field", "Grove", "Harbor", "Isle", "Jet", "Kite", "Lake",
        "Maple", "Nest", "Orbit", "Peak", "River", "Stone", "Tide", "Vale", "Wave", "Zenith")


@dataclass(frozen=True)
class Profile:
    """How a database's rows are drawn."""

    name: str
    entity_rows: tuple[int, int]
    fact_rows: tuple[int, int]
    null_scale: float = 1.0
    narrow: bool = False
    hint_rate: float = 0.0
    sparse_fk: bool = False


VISIBLE = Profile("visible", (15, 30), (30, 60))
VARIANT_PROFILES = (
    Profile("small", (4, 8), (5, 12), hint_rate=0.2),
    Profile("duplicates", (8, 14), (15, 30), narrow=True, hint_rate=0.2),
    Profile("nulls", (8, 15), (10, 25), null_scale=3.0, hint_rate=0.2),
    Profile("boundary", (8, 15), (12, 30), hint_rate=0.5),
    Profile("sparse", (8, 15), (8, 20), sparse_fk=True, hint_rate=0.2),
)


def variant_profile(variant_seed: int) -> Profile:
    """The profile a variant seed selects (seed modulo the number of profiles)."""
    return VARIANT_PROFILES[variant_seed % len(VARIANT_PROFILES)]


@functools.lru_cache(maxsize=8192)
def literal_hints(sql: str) -> Hints:
    """Literals the query compares columns with, by column name (what variants plant near boundaries)."""
    found: dict[str, set[Any]] = {}
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return ()
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE):
        col, lit = node.this, node.expression
        if isinstance(lit, exp.Column):
            col, lit = lit, col
        if isinstance(col, exp.Column) and isinstance(lit, exp.Literal):
            value: Any = lit.this if lit.is_string else _number(lit.this)
            found.setdefault(col.name, set()).add(value)
    return tuple(sorted((k, tuple(sorted(v, key=repr))) for k, v in found.items()))


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


@functools.lru_cache(maxsize=2048)
def build_database(domain_name: str, seed: int, profile: Profile, hints: Hints = ()) -> bytes:
    """The serialized SQLite database for these inputs (cached; bytes are immutable)."""
    domain = get_domain(domain_name)
    rng = random.Random(seed)
    hint_map = dict(hints)
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(domain.ddl())
        sizes: dict[str, int] = {}
        for table in domain.tables:
            lo, hi = profile.fact_rows if table is domain.fact else profile.entity_rows
            n = rng.randint(lo, hi)
            rows = _rows(rng, table, n, profile, hint_map, sizes)
            sizes[table.name] = n
            marks = ", ".join("?" for _ in table.columns)
            con.executemany(f"INSERT INTO {table.name} VALUES ({marks})", rows)
        con.commit()
        return con.serialize()
    finally:
        con.close()


def _rows(rng: random.Random, table: Table, n: int, profile: Profile, hints: dict[str, tuple[Any, ...]],
          sizes: dict[str, int]) -> list[tuple[Any, ...]]:
    columns = [_ColumnDraw(rng, c, profile, hints.get(c.name, ()), sizes.get(c.references, 0), table) for c in table.columns]
    return [tuple(col.draw(i) for col in columns) for i in range(n)]


class _ColumnDraw:
    """Draws one column's values for one table under a profile."""

    def __init__(self, rng: random.Random, column: Column, profile: Profile, hints: tuple[Any, ...],
                 referenced_rows: int, table: Table) -> None:
        self.rng, self.c, self.profile, self.hints = rng, column, profile, hints
        self.seen: set[Any] = set()
        self.lo, self.hi = column.lo, column.hi
        self.pool = column.values
        if profile.narrow and column.kind in ("int", "real"):
            width = (column.hi - column.lo) / 6
            self.lo = rng.uniform(column.lo, column.hi - width)
            self.hi = self.lo + width
        if profile.narrow and column.kind == "cat":
            self.pool = tuple(rng.sample(column.values, 2))
        if column.kind == "cat" and hints:
            self.pool = tuple(dict.fromkeys(self.pool + tuple(h for h in hints if isinstance(h, str))))
        if column.kind == "name":
            pool = [f"{a} {b}" for a in FIRST for b in LAST] if table.name_pool == "person" else [f"{a} {b}" for a in ADJ for b in NOUN]
            self.names = iter(rng.sample(pool, len(pool)))
        self.referenced = referenced_rows
        if column.kind == "fk" and profile.sparse_fk:
            half = max(1, referenced_rows // 2)
            self.fk_pool = rng.sample(range(1, referenced_rows + 1), half) + [referenced_rows + 1, referenced_rows + 2]
        else:
            self.fk_pool = list(range(1, referenced_rows + 1))

    def draw(self, index: int) -> Any:
        c, rng = self.c, self.rng
        if c.kind == "id":
            return index + 1
        if c.kind == "name":
            return next(self.names)
        if c.kind == "fk":
            return rng.choice(self.fk_pool)
        if c.null_rate and rng.random() < min(0.7, c.null_rate * self.profile.null_scale):
            return None
        for _ in range(50):
            value = self._value()
            if not c.unique or value not in self.seen:
                self.seen.add(value)
                return value
        raise RuntimeError(f"could not draw a unique value for column {c.name}; widen its range")

    def _value(self) -> Any:
        c, rng = self.c, self.rng
        numeric_hints = [h for h in self.hints if isinstance(h, (int, float))]
        if numeric_hints and rng.random() < self.profile.hint_rate:
            h = rng.choice(numeric_hints)
            step = 1 if c.kind == "int" else 0.01
            return rng.choice((h - step, h, h, h + step)) if c.kind == "int" else round(h + rng.choice((-step, 0, 0, step)), 2)
        if c.kind == "cat":
            return rng.choice(self.pool)
        if c.kind == "int":
            return rng.randint(int(self.lo), max(int(self.lo), int(self.hi)))
        return round(rng.uniform(self.lo, self.hi), 2)


def visible_database(domain: str, seed: int) -> bytes:
    """The database an agent explores for a generated task."""
    return build_database(domain, seed, VISIBLE)


def variant_database(domain: str, variant_seed: int, gold_sql: str) -> bytes:
    """A hidden variant: same schema, different rows.

    Seeds from `probes.PROBE_BASE` up name probe databases (rows planted where near misses of the gold query
    differ, see `probes`); smaller seeds a random profile with the gold query's literals planted.
    """
    from verigym.envs.sql import probes

    if probes.is_probe_seed(variant_seed):
        return probes.probe_database(domain, variant_seed, gold_sql)
    return build_database(domain, variant_seed, variant_profile(variant_seed), literal_hints(gold_sql))


@functools.lru_cache(maxsize=64)
def file_database(path: str) -> bytes:
    """The bytes of an on-disk SQLite database (Spider/BIRD), read once into memory."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"SQLite database {path} not found; check the dataset directory layout")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(":memory:")
    try:
        src.backup(dst)
        return dst.serialize()
    finally:
        src.close()
        dst.close()


@functools.lru_cache(maxsize=256)
def perturbed_database(path: str, seed: int) -> bytes:
    """A variant of an on-disk database: ~25% of rows dropped, non-key columns shuffled within each table.

    Used for loaded (Spider/BIRD) tasks, whose schemas the generator does not know.
    """
    rng = random.Random(seed)
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(file_database(path))
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            info = con.execute(f'PRAGMA table_info("{table}")').fetchall()
            keys = {row[1] for row in info if row[5]}
            keys |= {row[3] for row in con.execute(f'PRAGMA foreign_key_list("{table}")')}
            names = [row[1] for row in info]
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            kept = [list(r) for r in rows if rng.random() >= 0.25] or [list(r) for r in rows[:1]]
            for j, name in enumerate(names):
                if name not in keys:
                    values = [r[j] for r in kept]
                    rng.shuffle(values)
                    for r, v in zip(kept, values):
                        r[j] = v
            con.execute(f'DELETE FROM "{table}"')
            marks = ", ".join("?" for _ in names)
            con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', kept)
        con.commit()
        return con.serialize()
    finally:
        con.close()


def schema_ddl(data: bytes) -> str:
    """The CREATE statements of a serialized database (what the `schema` tool shows)."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        rows = con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid")
        return "\n".join(r[0].strip() + ";" for r in rows)
    finally:
        con.close()


def table_columns(data: bytes) -> dict[str, list[str]]:
    """Table name -> column names of a serialized database."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        return {t: [row[1] for row in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    finally:
        con.close()


__all__ = ["Profile", "VISIBLE", "VARIANT_PROFILES", "build_database", "file_database", "literal_hints",
           "perturbed_database", "schema_ddl", "table_columns", "variant_database", "variant_profile", "visible_database"]
