"""`sql-v0`: answer a question about a SQLite database with one SQL query, exploring it first if you like.

Tools: `execute` runs an exploratory read-only query on the visible database and shows at most
`max_rows_shown` rows (or the error); `schema` shows the CREATE TABLE statements. The final
`<answer>SELECT ...</answer>` is verified on the visible database and hidden variants (see `verifier`).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.sql import database
from verigym.envs.sql.generator import generate_task
from verigym.envs.sql.grammar import LEVELS
from verigym.envs.sql.safety import DIALECTS, QueryLimits, QueryResult, execute
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import task_databases, verify

TOOLS = ("execute", "schema")
SYSTEM = """You answer questions about a SQLite database by writing one SQL query.
Each turn, send exactly one of:
  <tool_call>{{"name": "execute", "arguments": {{"sql": "SELECT ..."}}}}</tool_call>   run a read-only query (you see at most {rows} rows)
  <tool_call>{{"name": "schema", "arguments": {{}}}}</tool_call>                       show the CREATE TABLE statements
  <answer>SELECT ...</answer>                                                   submit your final query (ends the episode)
You may use at most {budget} tool calls. Write SQL in the {dialect} dialect. The answer is checked by running it on
this database and on hidden databases with the same schema but different rows, so do not hard-code values you saw:
return exactly the columns the question asks for; order rows only if the question asks for an order."""


@dataclass
class SqlConfig(EnvConfig):
    """Settings of `sql-v0`. `difficulty` is one of easy/medium/hard (None: any); `domains` empty means all."""

    max_turns: int = 8
    tool_budget: int = 6
    max_rows_shown: int = 20
    difficulty: str | None = None
    domains: tuple[str, ...] = ()
    dialect: str = "sqlite"
    n_variants: int = 4
    time_limit_s: float = 1.0
    max_rows: int = 10_000
    exec_fraction_weight: float = 0.0
    valid_sql_weight: float = 0.0


class SqlEnv(TextEnv[SqlTask]):
    """Text-to-SQL with exploratory execution and test-suite verification."""

    env_id = "sql-v0"
    task_type = SqlTask
    config_type = SqlConfig
    config: SqlConfig
    steps_outside_python = True  # queries run in SQLite, which releases the GIL

    def __init__(self, config: SqlConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if isinstance(overrides.get("domains"), list):
            overrides["domains"] = tuple(overrides["domains"])
        super().__init__(config, render_mode, **overrides)
        if self.config.difficulty is not None and self.config.difficulty not in LEVELS:
            raise ValueError(f"sql-v0: difficulty must be one of {LEVELS} or None, got {self.config.difficulty!r}")
        if self.config.dialect not in DIALECTS:
            raise ValueError(f"sql-v0: dialect must be one of {DIALECTS}, got {self.config.dialect!r}")
        self.limits = QueryLimits(time_s=self.config.time_limit_s, max_rows=self.config.max_rows)
        self.tools_used = 0

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({
            "exec_match": 1.0,
            "exec_fraction": self.config.exec_fraction_weight,
            "valid_sql": self.config.valid_sql_weight,
        })

    def generate_task(self, seed: int) -> SqlTask:
        return generate_task(seed, self.config.difficulty, self.config.domains, self.config.dialect, self.config.n_variants)

    def on_reset(self) -> None:
        self.tools_used = 0

    @property
    def visible(self) -> bytes:
        """The serialized database the agent explores."""
        assert self.task is not None, "call reset() first"
        return task_databases(self.task)[0]

    def opening_messages(self, task: SqlTask) -> list[Message]:
        system = SYSTEM.format(rows=self.config.max_rows_shown, budget=self.config.tool_budget, dialect=task.dialect)
        tables = ", ".join(database.table_columns(task_databases(task)[0]))
        user = f"Database tables: {tables}.\nQuestion: {task.question}"
        if task.evidence:
            user += f"\nHint: {task.evidence}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None
        parsed = parse_action(action, TOOLS)
        if isinstance(parsed, MalformedAction):
            return TurnResult([_user(f"Malformed action: {parsed.reason}.")], malformed=parsed.reason)
        if isinstance(parsed, Answer):
            verdict = verify(self.task, parsed.text, self.limits)
            note = "correct" if verdict.passed else "not correct"
            if "error" in verdict.details:
                note += f" ({verdict.details['error']})"
            return TurnResult([_user(f"Answer submitted: {note}.")], terminated=True, verdict=verdict)
        return self._tool(parsed)

    def _tool(self, call: ToolCall) -> TurnResult:
        if self.tools_used >= self.config.tool_budget:
            reason = f"the tool budget of {self.config.tool_budget} calls is used up; submit <answer>SELECT ...</answer>"
            return TurnResult([_user(f"Malformed action: {reason}.")], malformed=reason)
        if call.name == "schema":
            if call.arguments:
                reason = f"the schema tool takes no arguments, got {sorted(call.arguments)}"
                return TurnResult([_user(f"Malformed action: {reason}.")], malformed=reason)
            self.tools_used += 1
            return TurnResult([_tool(database.schema_ddl(self.visible))])
        sql = call.arguments.get("sql")
        if set(call.arguments) != {"sql"} or not isinstance(sql, str):
            reason = f'execute takes exactly one argument "sql" (a string), got {sorted(call.arguments)}'
            return TurnResult([_user(f"Malformed action: {reason}.")], malformed=reason)
        self.tools_used += 1
        return TurnResult([_tool(self.format_result(execute(self.visible, sql, self.task.dialect, self.limits)))])

    def format_result(self, result: QueryResult) -> str:
        """A result as the agent sees it: a header, at most `max_rows_shown` rows, and the total row count."""
        if not result.ok:
            return f"Error: {result.error}"
        shown = result.rows[: self.config.max_rows_shown]
        lines = [" | ".join(result.columns)] + [" | ".join("NULL" if v is None else str(v) for v in row) for row in shown]
        total = len(result.rows)
        lines.append(f"({total} row{'s' if total != 1 else ''}" + (f", first {len(shown)} shown)" if total > len(shown) else ")"))
        return "\n".join(lines)

    def oracle_action(self) -> str:
        """Run the gold query once to look at it, then submit it (in the task's dialect)."""
        assert self.task is not None
        sql = oracle_sql(self.task.gold_sql, self.task.dialect)
        if self.tools_used == 0 and self.config.tool_budget > 0:
            return format_tool_call("execute", {"sql": sql})
        return format_answer(sql)

    def sample_action(self, rng: random.Random) -> str:
        """A plausible but uninformed query over the visible schema (sometimes run as a tool call)."""
        tables = database.table_columns(self.visible)
        table = rng.choice(sorted(tables))
        columns = rng.sample(tables[table], rng.randint(1, min(3, len(tables[table]))))
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        if rng.random() < 0.5:
            sql += f" WHERE {rng.choice(tables[table])} {rng.choice(['>', '<', '=', '<>'])} {rng.randint(0, 100)}"
        if rng.random() < 0.3:
            sql += f" LIMIT {rng.randint(1, 10)}"
        if rng.random() < 0.25:
            return format_tool_call("execute", {"sql": sql})
        return format_answer(sql)


@functools.lru_cache(maxsize=4096)
def oracle_sql(gold_sql: str, dialect: str) -> str:
    """The gold query written in `dialect` (transpiled from SQLite by sqlglot)."""
    if dialect == "sqlite":
        return gold_sql
    import sqlglot

    return sqlglot.transpile(gold_sql, read="sqlite", write=dialect)[0]


def _user(text: str) -> Message:
    return {"role": "user", "content": text}


def _tool(text: str) -> Message:
    return {"role": "tool", "content": text}
