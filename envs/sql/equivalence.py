"""An estimate of query equivalence, for the benchmark: agreement with gold on many extra databases.

A mutant counts as equivalent to gold only if its result matches gold's on every reference database: `n_random`
random databases (the random variant profiles plus the visible one, half of them with the gold query's
literals planted) and `n_probes` probe databases, none of them a task's own variant. Non-equivalence is
certain (a database shows it); equivalence is an estimate.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator

from verigym.envs.sql import database, probes
from verigym.envs.sql.compare import is_ordered, results_match
from verigym.envs.sql.safety import QueryLimits, QueryResult, connect_readonly, run_query

RANDOM_DATABASES = 200
PROBE_DATABASES = 8
REFERENCE_SEED = 3_000_000_000  # far from the generator's variant seeds (< 5 * 2**28)
LIMITS = QueryLimits(time_s=1.0, max_rows=100_000)
_PROFILES = (*database.VARIANT_PROFILES, database.VISIBLE)


class ReferenceSet:
    """The reference databases of one gold query, built lazily and kept open (read-only), with gold's result on each."""

    def __init__(self, domain: str, gold_sql: str, n_random: int = RANDOM_DATABASES, n_probes: int = PROBE_DATABASES) -> None:
        self.domain, self.gold_sql, self.n_random, self.n_probes = domain, gold_sql, n_random, n_probes
        self.ordered = is_ordered(gold_sql)
        self._built: list[tuple[sqlite3.Connection, QueryResult]] = []

    def __len__(self) -> int:
        return self.n_random + self.n_probes

    def _build(self, index: int) -> bytes:
        if index < self.n_probes:  # probes first: they separate most near misses, so non-equivalence shows early
            seed = probes.PROBE_BASE + REFERENCE_SEED + index
            return probes.probe_database.__wrapped__(self.domain, seed, self.gold_sql)
        j = index - self.n_probes
        if j % 2:
            hints = database.literal_hints(self.gold_sql)
            return database.build_database.__wrapped__(self.domain, REFERENCE_SEED + j, _PROFILES[j % len(_PROFILES)], hints)
        return _plain_random(self.domain, j)

    def databases(self) -> Iterator[tuple[sqlite3.Connection, QueryResult]]:
        """(read-only connection, gold's result) pairs, building each database the first time it is needed."""
        for index in range(len(self)):
            if index == len(self._built):
                con = connect_readonly(self._build(index))
                self._built.append((con, run_query(con, self.gold_sql, LIMITS)))
            yield self._built[index]

    def equivalent(self, sql: str) -> bool:
        """Whether `sql` (SQLite) matches gold on every reference database where gold runs."""
        for con, gold in self.databases():
            if not gold.ok:
                continue
            result = run_query(con, sql, LIMITS)
            if not result.ok or not results_match(gold, result, self.ordered):
                return False
        return True


@functools.lru_cache(maxsize=1024)
def _plain_random(domain: str, j: int) -> bytes:
    """A random reference database without planted literals (shared by every gold query of the domain)."""
    return database.build_database.__wrapped__(domain, REFERENCE_SEED + j, _PROFILES[j % len(_PROFILES)], ())


@functools.lru_cache(maxsize=4)
def reference_set(domain: str, gold_sql: str, n_random: int = RANDOM_DATABASES, n_probes: int = PROBE_DATABASES) -> ReferenceSet:
    """The (cached) reference set of a gold query."""
    return ReferenceSet(domain, gold_sql, n_random, n_probes)
