"""The episode protocol of rtl-verilog-v0 and its oracle, on both sandbox backends."""

from __future__ import annotations

import random

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.envs.actions import format_tool_call
from verigym.envs.rtl.env import RtlEnv
from verigym.envs.rtl.generator import generate_task

pytestmark = pytest.mark.timeout(300)


def _play(env, policy) -> tuple[float, dict]:
    while True:
        _, reward, terminated, truncated, info = env.step(policy())
        if terminated or truncated:
            return reward, info


def test_check_env_passes(local_providers) -> None:
    env = RtlEnv(templates=("parity",))
    env.use_sandboxes(local_providers)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_oracle_scores_the_maximum(make_env) -> None:
    """One combinational, one memory-based and one FSM task (the 200-seed runs are in the README)."""
    env = make_env()
    for template, difficulty in (("alu", None), ("fifo", "easy"), ("traffic_light", "medium")):
        env.reset(options={"task": generate_task(1, difficulty, (template,))})
        reward, info = _play(env, env.oracle_action)
        assert reward == pytest.approx(1.0), info["verdict"].details
        assert info["reward_components"] == {"compiles": 1.0, "functional": 1.0, "ppa": 1.0}
        assert info["verdict"].details["formal"] == "proven"


def test_simulate_reports_compile_errors_with_line_numbers(make_env) -> None:
    env = make_env(templates=("adder",))
    env.reset(seed=1)
    broken = env.task.reference.replace("assign", "asign")
    obs, reward, terminated, _, _ = env.step(format_tool_call("simulate", {"code": broken}))
    text = obs[0]["content"]
    assert not terminated and reward == 0.0
    assert "compile errors" in text and "design.v:" in text and any(ch.isdigit() for ch in text)


def test_simulate_reports_the_first_failing_vectors_with_cycle(make_env) -> None:
    env = make_env(templates=("counter",), difficulty="easy")
    env.reset(seed=4)
    wrong = env.task.reference.replace("q + 1", "q + 2")
    obs, *_ = env.step(format_tool_call("simulate", {"code": f"```verilog\n{wrong}\n```"}))
    text = obs[0]["content"]
    assert "visible vectors fail" in text and "cycle " in text and "expected {q=" in text and "got {q=" in text


def test_synthesize_reports_cells_and_depth(make_env) -> None:
    env = make_env(templates=("popcount",))
    env.reset(seed=0)
    obs, *_ = env.step(format_tool_call("synthesize", {"code": env.task.reference}))
    assert "cells" in obs[0]["content"] and "logic depth" in obs[0]["content"]


def test_malformed_actions_become_observations(make_env) -> None:
    env = make_env(templates=("adder",))
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step("no tags at all")
    assert not terminated and info["malformed"] and "Malformed action" in obs[0]["content"]
    obs, _, terminated, _, info = env.step(format_tool_call("simulate", {"source": "x"}))
    assert not terminated and '"code"' in obs[0]["content"]


def test_last_turn_tool_call_is_graded(make_env) -> None:
    env = make_env(templates=("bin2gray",), max_turns=2)
    env.reset(seed=0)
    env.step(format_tool_call("simulate", {"code": "module broken"}))
    _, reward, terminated, _, info = env.step(format_tool_call("simulate", {"code": env.task.reference}))
    assert terminated and reward == pytest.approx(1.0)


def test_ppa_is_relative_to_the_reference_and_capped() -> None:
    from verigym.envs.rtl.formal import Synthesis
    from verigym.envs.rtl.verifier import ppa_score

    ref = Synthesis({}, cells=20, depth=5)
    assert ppa_score(ref, ref) == 1.0
    assert ppa_score(Synthesis({}, 41, 11), ref) == pytest.approx(0.5 * 21 / 42 + 0.5 * 6 / 12)
    assert ppa_score(Synthesis({}, 1, 1), ref) == 1.0  # better than the reference: capped


def test_random_baseline_is_well_below_the_oracle(local_providers) -> None:
    env = RtlEnv(templates=("adder", "counter", "mux"))
    env.use_sandboxes(local_providers)
    try:
        rewards = []
        for seed in range(4):
            env.reset(seed=seed)
            rng = random.Random(seed)
            rewards.append(_play(env, lambda: env.sample_action(rng))[0])
        assert max(rewards) < 0.5
    finally:
        env.close()


def test_registered_and_runs_through_the_runner(local_providers) -> None:
    from verigym.agents.runner import run_episodes
    from verigym.agents.scripted import OraclePolicy

    _, summary = run_episodes("rtl-verilog-v0", OraclePolicy(), n=2, sandbox=local_providers, progress=False,
                              env_kwargs={"templates": ["decoder"]})
    assert summary.mean_reward == pytest.approx(1.0)
