"""code-python-v0 as a Gymnasium env: API conformance, oracle/random/garbage runs, tools, sessions."""

from __future__ import annotations

import json

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.agents.runner import run_episodes
from verigym.agents.scripted import GarbagePolicy, OraclePolicy, RandomPolicy
from verigym.envs.actions import format_answer, format_tool_call
from verigym.envs.code_python.env import CodePythonEnv, strip_fence
from verigym.plugins.registry import make

FAST = {"time_floor_s": 0.5, "time_cap_s": 1.0, "give_up_after": 2}


@pytest.fixture
def env(local_providers):
    env = CodePythonEnv(templates=("rotate",), **FAST)
    env.use_sandboxes(local_providers)
    yield env
    env.close()


def test_check_env_passes(local_providers) -> None:
    env = CodePythonEnv()
    env.use_sandboxes(local_providers)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_registered_and_configurable() -> None:
    env = make("code-python-v0", difficulty="hard", templates=["prime_pairs"], tool_budget=2)
    assert isinstance(env, CodePythonEnv) and env.config.templates == ("prime_pairs",)
    assert env.generate_task(3).template == "prime_pairs" and env.generate_task(3).difficulty == "hard"
    with pytest.raises(ValueError, match="difficulty"):
        CodePythonEnv(difficulty="extreme")
    with pytest.raises(TypeError, match="known settings"):
        CodePythonEnv(no_such_setting=1)
    assert set(env.rubric.names) == {"correct", "pass_fraction", "efficiency"}
    assert env.rubric.weights == {"correct": 1.0, "pass_fraction": 0.0, "efficiency": 0.0}


@pytest.mark.timeout(180)
def test_oracle_scores_full_marks_on_both_backends(sandbox_providers) -> None:
    records, summary = run_episodes("code-python-v0", OraclePolicy(), n=6, seed=500, concurrency=2, progress=False,
                                    sandbox=sandbox_providers)
    assert summary.dropped == {} and summary.components["correct"] == 1.0, summary
    assert all(r.turns == 2 and r.turn_records[0].action.startswith("<tool_call>") for r in records)


@pytest.mark.timeout(180)
def test_random_and_garbage_baselines_run_and_fail(local_providers) -> None:
    for policy in (RandomPolicy(), GarbagePolicy()):
        _, summary = run_episodes("code-python-v0", policy, n=6, seed=0, concurrency=2, progress=False,
                                  sandbox=local_providers, env_kwargs={"max_turns": 3, **FAST})
        assert summary.dropped == {}, summary
        assert summary.success_rate <= 0.2


def test_run_tool_reports_examples_output_and_budget(env) -> None:
    obs, _ = env.reset(seed=2)
    assert "def rotate(xs: list[int]) -> list[int]" in obs[1]["content"] and "Examples:" in obs[1]["content"]
    wrong = "def rotate(xs):\n    print('hello from the agent')\n    return list(xs)\n"
    obs, reward, terminated, truncated, info = env.step(format_tool_call("run", {"code": wrong}))
    text = obs[0]["content"]
    assert obs[0]["role"] == "tool" and (reward, terminated, truncated) == (0.0, False, False)
    assert "FAILED: expected" in text and "got" in text and "hello from the agent" in text
    obs, *_ = env.step(format_tool_call("run", {"code": env.task.reference}))
    assert obs[0]["content"].startswith("3/3 examples passed.")
    snippet = {"code": env.task.reference, "snippet": "import sys\nprint(rotate([1, 2, 3]))\nsys.exit(3)"}
    obs, *_ = env.step(format_tool_call("run", snippet))
    assert "exit code 3" in obs[0]["content"] and "stdout:\n[" in obs[0]["content"]
    crash = {"code": "def rotate(xs):\n    raise ValueError('boom')\n"}
    obs, *_ = env.step(format_tool_call("run", crash))
    assert "exception: ValueError: boom" in obs[0]["content"]
    env.step(format_tool_call("run", {"code": "x = 1", "snippet": "print(x)"}))
    obs, _, _, _, info = env.step(format_tool_call("run", {"code": "x = 1"}))
    assert "budget" in info["malformed"]


@pytest.mark.parametrize(("action", "needle"), [
    ("just text", "no <answer>"),
    (format_tool_call("submit", {"code": "x"}), "unknown tool"),
    (format_tool_call("run", {"source": "x"}), 'run takes "code"'),
    (format_tool_call("run", {"code": 5}), 'run takes "code"'),
    ("<answer>   </answer>", "empty"),
])
def test_malformed_actions_get_a_clear_observation(env, action: str, needle: str) -> None:
    env.reset(seed=1)
    obs, reward, terminated, _, info = env.step(action)
    assert needle in info["malformed"] and obs[0]["content"].startswith("Malformed action:")
    assert reward == 0.0 and not terminated


def test_hidden_tests_never_reach_the_agents_session_and_grading_uses_a_fresh_one(env) -> None:
    env.reset(seed=4)
    agent_session = env.sandbox
    sent: list[str] = []
    real_exec = agent_session.exec

    def recording_exec(*args, **kwargs):
        sent.append(kwargs.get("stdin") or "")
        return real_exec(*args, **kwargs)

    agent_session.exec = recording_exec
    grading_ids: list[str] = []
    real_grading = env.grading_session

    def recording_grading(*args, **kwargs):
        cm = real_grading(*args, **kwargs)
        session = cm.__enter__()
        grading_ids.append(session.id)
        assert session is not agent_session
        return _Entered(cm, session)

    env.grading_session = recording_grading
    env.step(env.oracle_action())  # the run tool
    jobs = [json.loads(s.split("\n", 1)[1]) for s in sent if s]
    assert jobs and all(job["tests"] == [json.loads(c.args) for c in env.task.visible] for job in jobs)
    _, reward, terminated, _, _ = env.step(env.oracle_action())
    assert terminated and reward == 1.0
    assert grading_ids and agent_session.id not in grading_ids


class _Entered:
    def __init__(self, cm, session) -> None:
        self.cm, self.session = cm, session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def test_answer_fences_are_stripped() -> None:
    assert strip_fence("```python\ndef f():\n    return 1\n```") == "def f():\n    return 1"
    assert strip_fence("def f(): pass") == "def f(): pass"


def test_pass_fraction_is_dense(env) -> None:
    env.reset(seed=7)
    half = "def rotate(xs):\n    return [] if not xs else list(xs)\n"
    _, reward, terminated, _, info = env.step(format_answer(half))
    components = info["reward_components"]
    assert terminated and components["correct"] == 0.0 and reward == 0.0
    assert 0.0 < components["pass_fraction"] < 1.0 and components["efficiency"] == 0.0


@pytest.mark.parametrize(("harness", "match"), [
    ("import sys; sys.exit(0)", "before any candidate code"),  # no frames at all: missing result
    ("import time; time.sleep(60)", "before any candidate code"),  # the harness's own deadline
    ("raise RuntimeError('harness bug')", "before any candidate code"),
])
def test_a_broken_harness_drops_the_episode_instead_of_scoring_it(local_providers, monkeypatch, harness: str,
                                                                   match: str) -> None:
    import dataclasses

    from verigym.envs.code_python import grading
    from verigym.envs.verdict import SandboxFailure

    monkeypatch.setattr(grading, "HARNESS_SOURCE", harness)
    monkeypatch.setattr(grading, "STARTUP_S", 0.5)
    env = CodePythonEnv(templates=("rotate",), n_hidden=2, **FAST)
    env.grading = dataclasses.replace(env.grading, load_deadline_s=0.5)  # harness deadline: 0.5 + 0.5 + 2 x 1.5 s
    env.use_sandboxes(local_providers)
    try:
        env.reset(seed=3)
        with pytest.raises(SandboxFailure, match=match):
            env.step(format_answer(env.task.reference))
    finally:
        env.close()
