"""Procedural text-to-SQL tasks: a domain, a visible database, a question with gold SQL, hidden variants.

`generate_task(seed)` is deterministic in its arguments. It draws a query from the grammar, builds
candidate variant databases, and keeps the `n_variants` that separate gold from the most near-miss mutants
(the distilled test-suite idea), always including one on which gold's result differs from its result on the
visible database (so an answer that hard-codes the visible result fails) and requiring gold to return rows
somewhere (so an always-empty answer fails). Queries that cannot meet both are redrawn.

With `probe_variants=True` (the default) the candidates also include probe databases (`probes`: rows
planted at, just below and just above every literal, duplicates, NULLs, ties) and at least
`PROBE_QUOTA` of the chosen variants are probe databases, whatever the mutants say, so boundary mistakes
outside the mutant list are caught too; the quota takes one probe database of each kind first (the bare
boundary one, the bare NULL/join one, one on a random background), then the best by mutants separated. `probe_variants=False` is the previous, random-profile builder
(kept as the benchmark's baseline).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from verigym.envs.sql import database, probes
from verigym.envs.sql.compare import canonical, is_ordered, results_match
from verigym.envs.sql.grammar import LEVELS, SHAPES, Draft
from verigym.envs.sql.mutants import mutants
from verigym.envs.sql.safety import QueryLimits, QueryResult
from verigym.envs.sql.schemas import DOMAINS
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import GOLD_LIMITS, run_on

MAX_ATTEMPTS = 40
PROBE_CANDIDATES = len(probes.BACKGROUNDS)
PROBE_QUOTA = 3
MUTANT_LIMITS = QueryLimits(time_s=1.0, max_rows=100_000)


@dataclass(frozen=True)
class Selection:
    """The chosen variant seeds and how well they separate gold from its mutants."""

    variant_seeds: tuple[int, ...]
    mutants: int
    distinguished: int


def generate_task(seed: int, difficulty: str | None = None, domains: Sequence[str] = (), dialect: str = "sqlite",
                  n_variants: int = 4, n_candidates: int = 8, probe_variants: bool = True) -> SqlTask:
    """The task for `seed` (see the module docstring); `difficulty` is one of LEVELS or None for any."""
    task, _ = generate_with_stats(seed, difficulty, domains, dialect, n_variants, n_candidates, probe_variants)
    return task


def generate_with_stats(seed: int, difficulty: str | None = None, domains: Sequence[str] = (), dialect: str = "sqlite",
                        n_variants: int = 4, n_candidates: int = 8, probe_variants: bool = True) -> tuple[SqlTask, Selection]:
    """`generate_task` plus the mutant statistics of the chosen variants."""
    if difficulty is not None and difficulty not in LEVELS:
        raise ValueError(f"unknown difficulty {difficulty!r}; use one of {LEVELS} or None")
    for name in domains:
        if name not in DOMAINS:
            raise ValueError(f"unknown SQL domain {name!r}; known: {sorted(DOMAINS)}")
    if n_candidates < n_variants or n_variants < 1:
        raise ValueError(f"need 1 <= n_variants ({n_variants}) <= n_candidates ({n_candidates})")
    rng = random.Random(seed)
    domain = DOMAINS[rng.choice(sorted(domains or DOMAINS))]
    level = difficulty or rng.choice(LEVELS)
    visible = database.visible_database(domain.name, seed)
    probe_rng = random.Random(f"sql-probes-{seed}")
    quota = min(PROBE_QUOTA, n_variants - 1) if probe_variants else 0
    for _ in range(MAX_ATTEMPTS):
        draft: Draft = rng.choice(SHAPES[level])(rng, domain)
        candidates = [rng.randrange(1 << 28) * len(database.VARIANT_PROFILES) + k for k in range(n_candidates)]
        if probe_variants:
            base = probes.PROBE_BASE + probe_rng.randrange(1 << 28) * len(probes.BACKGROUNDS)
            candidates += [base + k for k in range(PROBE_CANDIDATES)]
        selection = select_variants(draft.sql, visible, [database.variant_database(domain.name, s, draft.sql) for s in candidates],
                                    candidates, n_variants, quota)
        if selection is not None:
            task = SqlTask(task_id=f"sql-{domain.name}-{level}-{seed}", seed=seed, question=draft.question,
                           gold_sql=draft.sql, domain=domain.name, difficulty=level, shape=draft.shape,
                           dialect=dialect, variant_seeds=selection.variant_seeds)
            return task, selection
    raise RuntimeError(f"seed {seed}: no usable {level} query in {MAX_ATTEMPTS} draws for domain {domain.name}; "
                       "this is a grammar bug, please report the seed")


def select_variants(gold_sql: str, visible: bytes, candidates: list[bytes], seeds: list[int], k: int,
                    probe_quota: int = 0) -> Selection | None:
    """Greedily pick `k` candidate databases that separate the most mutants; None if the query is unusable.

    At least `probe_quota` of them are probe databases (when that many are candidates).
    """
    ordered = is_ordered(gold_sql)
    gold = [run_on(db, gold_sql, GOLD_LIMITS) for db in [visible, *candidates]]
    if not all(r.ok for r in gold):
        bad = next(r for r in gold if not r.ok)
        raise RuntimeError(f"generated gold query fails: {gold_sql!r}: {bad.error}")
    # the hard-coded-visible-result attack is one more mutant, and one that must be caught
    hardcoded = [_same_rows(gold[0], g) for g in gold]
    killed: list[set[int]] = [set() for _ in gold]  # database -> mutant indices it separates from gold
    muts = mutants(gold_sql)
    for m, (_, sql) in enumerate(muts):
        for i, db in enumerate([visible, *candidates]):
            result = run_on(db, sql, MUTANT_LIMITS)
            if not result.ok or not results_match(gold[i], result, ordered):
                killed[i].add(m)
    differs = [i for i in range(1, len(gold)) if not hardcoded[i]]
    if not differs:
        return None
    chosen = [max(differs, key=lambda i: (len(killed[i] - killed[0]), bool(gold[i].rows), -i))]
    covered = killed[0] | killed[chosen[0]]
    probe_indices = {i for i in range(1, len(gold)) if probes.is_probe_seed(seeds[i - 1])}
    kind = {i: probes.probe_kind(seeds[i - 1]) for i in probe_indices}
    while len(chosen) < k:
        rest = [i for i in range(1, len(gold)) if i not in chosen]
        if len(probe_indices & set(chosen)) < probe_quota and probe_indices & set(rest):
            # the quota first takes one probe database of each kind (the bare ones plant what the mutant
            # list may not name: NULL-only aggregates, unmatched parents, boundary rows alone), then the best
            rest = [i for i in rest if i in probe_indices]
            seen = {kind[i] for i in chosen if i in kind}
            best = max(rest, key=lambda i: (kind[i] not in seen, len(killed[i] - covered), bool(gold[i].rows), -i))
            chosen.append(best)
            covered |= killed[best]
            continue
        best = max(rest, key=lambda i: (len(killed[i] - covered), bool(gold[i].rows), -i))
        chosen.append(best)
        covered |= killed[best]
    if not any(gold[i].rows for i in [0, *chosen]):
        return None
    if muts and not covered:
        return None
    return Selection(tuple(seeds[i - 1] for i in sorted(chosen)), len(muts), len(covered))


def _same_rows(a: QueryResult, b: QueryResult) -> bool:
    return sorted(map(repr, canonical(a.rows))) == sorted(map(repr, canonical(b.rows)))
