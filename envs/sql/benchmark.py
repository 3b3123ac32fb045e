"""Throughput of sql-v0's verifier and task generator, each next to a bare-SQLite baseline.

`throughput(seconds)` returns rows `{"env", "case", "ops_per_s", "baseline", "baseline_ops_per_s"}`:
`verify` judges a correct answer on the visible database and 4 hidden variants (databases and gold results
warm in the per-process caches, as when a task is rolled out many times); its baseline runs gold and answer
once on a single open connection. `generate` draws a new task (grammar, candidate variants, mutant
selection); its baseline only builds the visible database.

`python -m verigym.envs.sql.benchmark --seeds 0-1999` is issue 18's report: for the previous random-profile
variant builder ("before") and the probe builder ("after"), the near-miss mutants each accepts, split into
equivalent and not by `equivalence` (200 random + 8 probe reference databases per gold query), for the
project's mutants (`mutants.py`) and the held-out operators (`nearmiss.py`), pooled per family and per
operator (accepted non-equivalent / non-equivalent, with the target check: at most 1% for every family and
every operator on the probe builder); verify/s on each builder's tasks measured interleaved in the same run;
and variant build and task generation times. Each per-seed record also lists the accepted non-equivalent
mutants' SQL (`missed`), so what slips through can be read back from `--records`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from collections.abc import Callable, Sequence

from verigym.envs.sql import database, probes
from verigym.envs.sql.equivalence import PROBE_DATABASES, RANDOM_DATABASES, reference_set
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.mutants import mutants
from verigym.envs.sql.nearmiss import nearmiss_mutants
from verigym.envs.sql.schemas import get_domain
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import gold_results, task_databases, verify

BUILDERS = {"before": False, "after": True}  # name -> generate_task(probe_variants=...)
FAMILIES = ("project", "held-out")
TARGET_RATE = 0.01  # issue 18: at most 1% of non-equivalent mutants accepted, per family and per operator


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


def seed_records(seed: int, n_random: int = RANDOM_DATABASES, n_probes: int = PROBE_DATABASES) -> dict:
    """Both builders' verdicts on every mutant of one seed's gold query, and the equivalence of those accepted.

    A mutant is non-equivalent if any task database of either builder or any reference database separates
    it from gold; `rows` holds (builder, family, operator, accepted, equivalent).
    """
    tasks: dict[str, SqlTask] = {}
    seconds: dict[str, float] = {}
    build: dict[str, float] = {}
    for name, probe_variants in BUILDERS.items():
        _clear_caches()
        start = time.process_time()
        tasks[name] = generate_task(seed, probe_variants=probe_variants)
        seconds[name] = time.process_time() - start
        build[name] = _variant_build_seconds(tasks[name])
    rows = []
    missed = []
    for gold in dict.fromkeys(t.gold_sql for t in tasks.values()):
        same = {name: task for name, task in tasks.items() if task.gold_sql == gold}
        domain = next(iter(same.values())).domain
        family_mutants = {"project": mutants(gold), "held-out": nearmiss_mutants(gold, get_domain(domain))}
        for family, items in family_mutants.items():
            for operator, sql in items:
                accepted = {name: verify(task, sql).passed for name, task in same.items()}
                equivalent = all(accepted.values()) and reference_set(domain, gold, n_random, n_probes).equivalent(sql)
                rows += [(name, family, operator, ok, equivalent) for name, ok in accepted.items()]
                missed += [(name, family, operator, gold, sql) for name, ok in accepted.items() if ok and not equivalent]
    return {"seed": seed, "rows": rows, "missed": missed, "generate_s": seconds, "build_s": build}


def _seed_records_star(args: tuple[int, int, int]) -> dict:
    return seed_records(*args)


def _keep(record: dict, done: dict[int, dict], sink) -> None:
    done[record["seed"]] = record
    if sink is not None:
        sink.write(json.dumps(record) + "\n")
        sink.flush()


def _clear_caches() -> None:
    """Forget built databases and gold results, so generation is timed from scratch."""
    for cache in (database.build_database, probes.probe_database, task_databases, gold_results):
        cache.cache_clear()


def _variant_build_seconds(task: SqlTask) -> float:
    """CPU seconds to build the task's hidden variants from scratch (no cache)."""
    start = time.process_time()
    for seed in task.variant_seeds:
        if probes.is_probe_seed(seed):
            probes.probe_database.__wrapped__(task.domain, seed, task.gold_sql)
        else:
            database.build_database.__wrapped__(task.domain, seed, database.variant_profile(seed),
                                                database.literal_hints(task.gold_sql))
    return time.process_time() - start


def verify_rates(seeds: Sequence[int], seconds: float) -> dict[str, float]:
    """Gold verifications per CPU second on each builder's tasks, measured in interleaved slices."""
    tasks = {name: [generate_task(s, probe_variants=flag) for s in seeds] for name, flag in BUILDERS.items()}
    for group in tasks.values():
        for task in group:
            gold_results(task)
            verify(task, task.gold_sql)
    done = dict.fromkeys(tasks, 0)
    spent = dict.fromkeys(tasks, 0.0)
    while min(spent.values()) < seconds:
        for name, group in tasks.items():
            start = time.process_time()
            for task in group:
                verify(task, task.gold_sql)
            spent[name] += time.process_time() - start
            done[name] += len(group)
    return {name: done[name] / spent[name] for name in tasks}


def mutant_report(seeds: Sequence[int], jobs: int = 1, n_random: int = RANDOM_DATABASES,
                  n_probes: int = PROBE_DATABASES, seconds: float = 2.0, records_path: str | None = None,
                  compute: bool = True) -> dict:
    """Issue 18's figures over `seeds` (see the module docstring).

    With `records_path`, per-seed records are appended there as they finish and reused on the next call
    (a long run can be resumed, or summarised part-way with `compute=False`).
    """
    start = time.perf_counter()
    done: dict[int, dict] = {}
    if records_path and Path(records_path).exists():
        for line in Path(records_path).read_text().splitlines():
            record = json.loads(line)
            done[record["seed"]] = record
    todo = [s for s in seeds if s not in done] if compute else []
    sink = open(records_path, "a") if records_path else None
    try:
        if jobs > 1 and todo:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for record in pool.imap_unordered(_seed_records_star, [(s, n_random, n_probes) for s in todo], chunksize=4):
                    _keep(record, done, sink)
        else:
            for s in todo:
                _keep(seed_records(s, n_random, n_probes), done, sink)
    finally:
        if sink is not None:
            sink.close()
    records = [done[s] for s in seeds if s in done]
    if not records:
        raise ValueError(f"no records for seeds {seeds[0]}-{seeds[-1]}; run without --summary-only first")
    counts: Counter[tuple[str, str, str]] = Counter()
    missed: Counter[tuple[str, str, str]] = Counter()
    per_operator: Counter[tuple[str, str, str, str]] = Counter()  # (builder, family, operator, verdict)
    for record in records:
        for name, family, operator, accepted, equivalent in record["rows"]:
            verdict = "equivalent" if equivalent else ("accepted" if accepted else "rejected")
            counts[(name, family, verdict)] += 1
            per_operator[(name, family, operator, verdict)] += 1
            if accepted and not equivalent:
                missed[(name, family, operator)] += 1
    table = []
    for name in BUILDERS:
        for family in FAMILIES:
            rejected, accepted, equivalent = (counts[(name, family, v)] for v in ("rejected", "accepted", "equivalent"))
            table.append({"builder": name, "family": family, "mutants": rejected + accepted + equivalent,
                          "equivalent": equivalent, "non_equivalent": rejected + accepted,
                          "non_equivalent_accepted": accepted,
                          "rate": accepted / max(1, rejected + accepted)})
    operators = []
    for family in FAMILIES:
        names = sorted({o for (_, f, o, _) in per_operator if f == family})
        for operator in names:
            row = {"family": family, "operator": operator}
            for name in BUILDERS:
                rejected, accepted, equivalent = (per_operator[(name, family, operator, v)] for v in ("rejected", "accepted", "equivalent"))
                row[name] = {"mutants": rejected + accepted + equivalent, "equivalent": equivalent,
                             "non_equivalent": rejected + accepted, "non_equivalent_accepted": accepted,
                             "rate": accepted / max(1, rejected + accepted)}
            operators.append(row)
    after = [row for row in table if row["builder"] == "after"]
    target = {"max_rate": TARGET_RATE,
              "families_ok": all(row["rate"] <= TARGET_RATE for row in after),
              "operators_ok": all(row["after"]["rate"] <= TARGET_RATE for row in operators),
              "operators_over": [f"{row['family']}/{row['operator']}" for row in operators if row["after"]["rate"] > TARGET_RATE]}
    target["met"] = target["families_ok"] and target["operators_ok"]
    rates = verify_rates(list(seeds)[:40], seconds)
    return {
        "seeds": f"{seeds[0]}-{seeds[-1]}", "tasks": len(records),
        "reference_databases": {"random": n_random, "probe": n_probes},
        "table": table,
        "operators": operators,
        "target": target,
        "missed_by_operator": {f"{n}/{f}/{o}": c for (n, f, o), c in sorted(missed.items())},
        "verify_per_s": rates, "verify_ratio": rates["after"] / rates["before"],
        "variant_build_ms": {n: 1000 * sum(r["build_s"][n] for r in records) / len(records) for n in BUILDERS},
        "generate_ms": {n: 1000 * sum(r["generate_s"][n] for r in records) / len(records) for n in BUILDERS},
        "wall_s": time.perf_counter() - start,
    }


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    lines = [f"sql-v0 near-miss mutants, seeds {report['seeds']} ({report['tasks']} tasks); equivalence on "
             f"{report['reference_databases']['random']} random + {report['reference_databases']['probe']} probe databases per gold query",
             f"{'builder':<8} {'family':<9} {'mutants':>8} {'equiv':>6} {'non-eq':>7} {'non-eq accepted':>16} {'rate':>7}"]
    for row in report["table"]:
        lines.append(f"{row['builder']:<8} {row['family']:<9} {row['mutants']:>8} {row['equivalent']:>6} {row['non_equivalent']:>7} "
                     f"{row['non_equivalent_accepted']:>16} {100 * row['rate']:>6.2f}%")
    lines.append("")
    lines.append(f"per operator: non-equivalent accepted / non-equivalent (equivalent mutants left out); target <= "
                 f"{100 * report['target']['max_rate']:.0f}% for every operator on the 'after' builder")
    lines.append(f"{'family':<9} {'operator':<24} {'before':>22} {'after':>22} {'equiv':>6}  target")
    for row in report["operators"]:
        cells = [f"{row[n]['non_equivalent_accepted']}/{row[n]['non_equivalent']} ({100 * row[n]['rate']:.2f}%)" for n in BUILDERS]
        ok = "ok" if row["after"]["rate"] <= report["target"]["max_rate"] else "OVER"
        lines.append(f"{row['family']:<9} {row['operator']:<24} {cells[0]:>22} {cells[1]:>22} {row['after']['equivalent']:>6}  {ok}")
    target = report["target"]
    lines.append(f"target (after builder: every family and every operator <= {100 * target['max_rate']:.0f}%): "
                 + ("MET" if target["met"] else "NOT MET: " + ", ".join(target["operators_over"] or ["a family"])))
    lines.append("")
    rates = report["verify_per_s"]
    lines.append(f"verify/s (gold, 5 databases, CPU time): before {rates['before']:.0f}, after {rates['after']:.0f}, "
                 f"ratio {report['verify_ratio']:.2f}")
    build, gen = report["variant_build_ms"], report["generate_ms"]
    lines.append(f"variant build ms/task (4 variants, cold): before {build['before']:.1f}, after {build['after']:.1f}; "
                 f"generate ms/task: before {gen['before']:.1f}, after {gen['after']:.1f}")
    if report["missed_by_operator"]:
        lines.append("non-equivalent mutants accepted, by builder/family/operator: " + json.dumps(report["missed_by_operator"]))
    lines.append(f"wall time {report['wall_s']:.0f} s")
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    """`A-B` (inclusive) or `N` (0..N-1)."""
    if "-" in text:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return list(range(int(text)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verigym.envs.sql.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-199", help="A-B inclusive, or N for 0..N-1 (issue 18's target: 0-1999)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--random-dbs", type=int, default=RANDOM_DATABASES)
    parser.add_argument("--probe-dbs", type=int, default=PROBE_DATABASES)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per builder for verify/s")
    parser.add_argument("--records", help="JSONL file of per-seed records: appended as seeds finish, reused when present")
    parser.add_argument("--summary-only", action="store_true", help="report from --records without computing missing seeds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--throughput", action="store_true", help="print only the env_throughput rows")
    args = parser.parse_args(argv)
    if args.throughput:
        for row in throughput(args.seconds):
            print(row)
        return 0
    report = mutant_report(parse_seeds(args.seeds), args.jobs, args.random_dbs, args.probe_dbs, args.seconds,
                           args.records, not args.summary_only)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
