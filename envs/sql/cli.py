"""`verigym sql best-of-n`: accuracy of first / re-ranked / oracle-best among N candidate queries per task.

Candidates come from a file (`--candidates`) or from playing a registered policy K times per task
(`--agent`). A file is JSONL (one object per task: `candidates` plus `task`, a task object or its JSON,
or `seed`, a generated task's seed) or Parquet (columns `candidates` and `task_json` or `seed`; or a
`verigym run --out` episode file, whose final answers are grouped by task).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verigym.envs.actions import Answer, parse_action
from verigym.envs.sql.task import SqlTask

if TYPE_CHECKING:  # the env and the ranking need sqlglot (the 'sql' extra): imported where used
    from verigym.envs.sql.env import SqlEnv
    from verigym.envs.sql.ranking import Scorer


def add_commands(sub: argparse._SubParsersAction) -> None:
    sql = sub.add_parser("sql", help="text-to-SQL (sql-v0) tools")
    commands = sql.add_subparsers(dest="sql_command", metavar="SQL_COMMAND", required=True)
    bon = commands.add_parser("best-of-n", help="first / re-ranked / oracle-best accuracy over N candidates per task")
    bon.add_argument("--candidates", help="JSONL or Parquet file of candidate SQL per task")
    bon.add_argument("--agent", help="generate candidates by playing this registered policy instead")
    bon.add_argument("-n", type=int, default=20, help="tasks, with --agent (seeds SEED..SEED+n-1)")
    bon.add_argument("-k", type=int, default=8, help="candidates per task, with --agent")
    bon.add_argument("--seed", type=int, default=0)
    bon.add_argument("--env-arg", action="append", default=[], metavar="KEY=JSON", help="sql-v0 setting, e.g. difficulty=\"hard\"")
    bon.add_argument("--agent-arg", action="append", default=[], metavar="KEY=JSON", help="policy setting")
    bon.add_argument("--temperature", type=float, default=1.0)
    bon.add_argument("--scorer", default="agreement", help="'agreement' or 'package.module:factory' returning a Scorer")
    bon.add_argument("--json", action="store_true", help="print the report as JSON")
    bon.set_defaults(func=cmd_best_of_n)


def cmd_best_of_n(args: argparse.Namespace) -> int:
    from verigym.agents.cli import parse_settings
    from verigym.envs.sql.env import SqlEnv
    from verigym.envs.sql.ranking import best_of_n

    if bool(args.candidates) == bool(args.agent):
        raise ValueError("give exactly one of --candidates FILE or --agent NAME")
    env = SqlEnv(**parse_settings(args.env_arg))
    if args.candidates:
        items = list(read_candidates(args.candidates, env))
    else:
        items = list(policy_candidates(args.agent, parse_settings(args.agent_arg), env, args.seed, args.n, args.k, args.temperature))
    report = best_of_n(items, make_scorer(args.scorer), env.limits)
    print(json.dumps(report.__dict__, indent=2) if args.json else report.table())
    return 0


def make_scorer(spec: str) -> Scorer:
    """The built-in agreement scorer, or the object a `module:factory` path builds."""
    from verigym.envs.sql.ranking import ExecutionAgreementScorer, Scorer

    if spec == "agreement":
        return ExecutionAgreementScorer()
    from verigym.plugins.specs import resolve

    scorer = resolve(spec)()
    if not isinstance(scorer, Scorer):
        raise TypeError(f"{spec} built a {type(scorer).__name__}, which lacks name and score(task, candidates)")
    return scorer


def read_candidates(path: str | Path, env: SqlEnv) -> Iterator[tuple[SqlTask, list[str]]]:
    """(task, candidates) pairs from a JSONL or Parquet file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"candidate file {path} not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "turn_records" in table.column_names and "candidates" not in table.column_names:
            yield from _episode_candidates(table.to_pylist())
            return
        rows: list[dict[str, Any]] = table.to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for number, row in enumerate(rows, 1):
        candidates = row.get("candidates")
        if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
            raise ValueError(f"{path} row {number}: 'candidates' must be a list of SQL strings")
        yield _row_task(row, env, f"{path} row {number}"), candidates


def _row_task(row: dict[str, Any], env: SqlEnv, where: str) -> SqlTask:
    task = row.get("task", row.get("task_json"))
    if isinstance(task, str):
        return SqlTask.from_json(task)
    if isinstance(task, dict):
        return SqlTask.from_dict(task)
    if isinstance(row.get("seed"), int):
        return env.generate_task(row["seed"])
    raise ValueError(f"{where}: needs 'task' (object or JSON), 'task_json' or 'seed'")


def _episode_candidates(rows: list[dict[str, Any]]) -> Iterator[tuple[SqlTask, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for row in rows:
        turns = row.get("turn_records") or []
        final = parse_action(turns[-1]["action"], ()) if turns else None
        grouped.setdefault(row["task_json"], []).append(final.text if isinstance(final, Answer) else "")
    for task_json, candidates in grouped.items():
        yield SqlTask.from_json(task_json), candidates


def policy_candidates(agent: str, agent_kwargs: dict[str, Any], env: SqlEnv, seed: int, n: int, k: int,
                      temperature: float) -> Iterator[tuple[SqlTask, list[str]]]:
    """Play `agent` k times on each of n generated tasks; each episode's submitted SQL is a candidate ('' if none)."""
    from verigym.agents.policy import GenerationRequest, SamplingParams
    from verigym.plugins.registry import make_policy

    policy = make_policy(agent, **agent_kwargs)
    for task_seed in range(seed, seed + n):
        task = env.generate_task(task_seed)
        candidates = []
        for j in range(k):
            messages, _ = env.reset(options={"task": task})
            answer = ""
            for _ in range(env.config.max_turns):
                request = GenerationRequest(messages=list(messages), env=env, seed=task_seed * 1000 + j)
                (completion,) = policy.generate([request], SamplingParams(temperature=temperature, seed=task_seed * 1000 + j))
                parsed = parse_action(completion.text, ("execute", "schema"))
                observation, _, terminated, truncated, _ = env.step(completion.text)
                messages = [*messages, {"role": "assistant", "content": completion.text}, *observation]
                if isinstance(parsed, Answer):
                    answer = parsed.text
                if terminated or truncated:
                    break
            candidates.append(answer)
        yield task, candidates
