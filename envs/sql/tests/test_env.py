"""sql-v0 as a Gymnasium env: API conformance, multi-turn oracle, tools, malformed actions, baselines."""

from __future__ import annotations

import random

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.agents.runner import run_episodes
from verigym.agents.scripted import OraclePolicy, RandomPolicy
from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.sql.env import SqlEnv
from verigym.plugins.registry import make


def test_check_env_passes() -> None:
    check_env(SqlEnv(), skip_render_check=True)


def test_registered_and_configurable() -> None:
    env = make("sql-v0", difficulty="hard", domains=["school"], max_rows_shown=3)
    assert isinstance(env, SqlEnv)
    env.reset(seed=4)
    assert env.task.difficulty == "hard" and env.task.domain == "school"
    with pytest.raises(ValueError, match="difficulty"):
        SqlEnv(difficulty="extreme")
    with pytest.raises(TypeError, match="known settings"):
        SqlEnv(no_such_setting=1)


def test_reset_is_deterministic() -> None:
    a, b = SqlEnv(), SqlEnv()
    assert a.reset(seed=9) == b.reset(seed=9)
    assert a.task == b.task


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "duckdb"])
def test_oracle_executes_then_answers_for_full_reward(dialect: str) -> None:
    records, summary = run_episodes("sql-v0", OraclePolicy(), n=30, seed=100, concurrency=1, progress=False,
                                    env_kwargs={"dialect": dialect})
    assert summary.dropped_verifier == 0 and summary.errored == 0
    assert summary.mean_reward == 1.0 and summary.success_rate == 1.0
    assert all(r.turns == 2 and r.turn_records[0].action.startswith("<tool_call>") for r in records)


def test_random_baseline_rarely_succeeds() -> None:
    _, summary = run_episodes("sql-v0", RandomPolicy(), n=40, seed=0, concurrency=1, progress=False)
    assert summary.errored == 0 and summary.dropped_verifier == 0
    assert summary.success_rate < 0.1


def test_execute_shows_limited_rows_and_counts_the_budget() -> None:
    env = SqlEnv(max_rows_shown=3, tool_budget=2, max_turns=5)
    env.reset(seed=1, options=None)
    table = env.task.gold_sql.split(" FROM ")[1].split()[0]
    obs, reward, terminated, truncated, info = env.step(format_tool_call("execute", {"sql": f"SELECT * FROM {table}"}))
    lines = obs[0]["content"].splitlines()
    assert obs[0]["role"] == "tool" and len(lines) == 5 and "first 3 shown" in lines[-1]
    assert (reward, terminated, truncated) == (0.0, False, False)
    schema, *_ = env.step(format_tool_call("schema", {}))
    assert "CREATE TABLE" in schema[0]["content"]
    obs, *_, info = env.step(format_tool_call("execute", {"sql": "SELECT 1"}))
    assert "tool budget of 2 calls is used up" in info["malformed"]
    _, reward, terminated, _, _ = env.step(format_answer(env.task.gold_sql))
    assert terminated and reward == 1.0


@pytest.mark.parametrize(
    "action, expected",
    [
        ("SELECT 1", "no <answer>"),
        ('<tool_call>{"name": "execute", "arguments": {"query": "SELECT 1"}}</tool_call>', 'exactly one argument "sql"'),
        ('<tool_call>{"name": "execute", "arguments": {"sql": 5}}</tool_call>', 'exactly one argument "sql"'),
        ('<tool_call>{"name": "drop_db", "arguments": {}}</tool_call>', "unknown tool 'drop_db'"),
        ('<tool_call>{"name": "schema", "arguments": {"x": 1}}</tool_call>', "takes no arguments"),
        ("<tool_call>{not json}</tool_call>", "not valid JSON"),
        ("<answer>SELECT 1</answer><answer>SELECT 2</answer>", "2 <answer> blocks"),
    ],
)
def test_malformed_actions_say_what_was_wrong(action: str, expected: str) -> None:
    env = SqlEnv()
    env.reset(seed=3)
    obs, reward, terminated, truncated, info = env.step(action)
    assert expected in obs[0]["content"] and expected in info["malformed"]
    assert (reward, terminated) == (0.0, False)
    assert info["reward_components"] == {"exec_match": 0.0, "exec_fraction": 0.0, "valid_sql": 0.0}


def test_wrong_answer_ends_the_episode_with_zero_and_dense_components_are_opt_in() -> None:
    env = SqlEnv(exec_fraction_weight=0.5, valid_sql_weight=0.1)
    env.reset(seed=8)
    table = env.task.gold_sql.split(" FROM ")[1].split()[0]
    _, reward, terminated, _, info = env.step(format_answer(f"SELECT * FROM {table}"))
    assert terminated and info["reward_components"]["exec_match"] == 0.0
    assert reward == pytest.approx(0.5 * info["reward_components"]["exec_fraction"] + 0.1)
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(format_answer("SELECT 1"))


def test_sample_action_is_well_formed_sql_over_the_schema() -> None:
    env = SqlEnv()
    for seed in range(20):
        env.reset(seed=seed)
        action = env.sample_action(random.Random(seed))
        _, _, _, _, info = env.step(action)
        assert info["malformed"] is None
