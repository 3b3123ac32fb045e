"""`triton-kernels-v0` end to end in real sandboxes: the oracle, multi-turn feedback, refusals, rewards."""

from __future__ import annotations

from pathlib import Path

import pytest

import verigym
from verigym.envs.kernels.env import BF16OnCPUError, KernelsEnv, extract_source
from verigym.envs.kernels.hacks import HACKS
from verigym.envs.kernels.oracle import oracle_names, oracle_source
from verigym.envs.kernels.task import curated_task
from verigym.envs.verdict import Verdict

SAMPLE = Path(__file__).with_name("kernelbench_sample")
BROKEN = oracle_source("relu").replace("tl.maximum(x, 0.0)", "tl.no_such_op(x)")
WRONG = oracle_source("relu").replace("tl.maximum(x, 0.0)", "tl.maximum(x, 0.1)")


def submit(source: str) -> str:
    return f"Here it is.\n```python\n{source}```"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", oracle_names())
def test_oracle_scores_full_correct(name, grade_submission):
    verdict = grade_submission(name, oracle_source(name))
    assert verdict.passed, verdict.details["feedback"]
    assert verdict.components == {"compiles": 1.0, "correct": 1.0, "speedup": 0.0, "coverage": 1.0}


@pytest.mark.timeout(600)
def test_oracle_episode_through_the_env(local_env):
    local_env.reset(options={"task": curated_task("layernorm", trials=2)})
    _, reward, terminated, _, info = local_env.step(local_env.oracle_action())
    assert terminated and local_env.last_verdict.passed, local_env.last_verdict.details["feedback"]
    assert info["reward_components"] == {"compiles": 1.0, "correct": 1.0, "speedup": 0.0, "coverage": 1.0}
    assert reward == pytest.approx(0.8)


@pytest.mark.timeout(600)
def test_multi_turn_feedback_shows_errors_then_diffs_then_accepts(local_env):
    local_env.reset(options={"task": curated_task("relu", trials=2)})
    obs, reward, terminated, _, _ = local_env.step(submit(BROKEN))
    assert not terminated and reward == 0.0
    assert "Failed while running forward" in obs[0]["content"] and "no_such_op" in obs[0]["content"]
    obs, reward, terminated, _, _ = local_env.step(submit(WRONG))
    text = obs[0]["content"]
    assert not terminated and "MISMATCH (max abs diff 0.1" in text and "0/2 trials correct" in text, text
    assert "launches 1 (relu_kernel x1)" in text
    obs, reward, terminated, _, info = local_env.step(submit(oracle_source("relu")))
    assert terminated and info["reward_components"]["correct"] == 1.0


@pytest.mark.timeout(600)
def test_the_reference_as_modelnew_fails_the_kernel_launch_check(local_env, grade_submission):
    local_env.reset(options={"task": curated_task("relu", trials=2)})
    obs, _, _, _, _ = local_env.step(submit(HACKS["reference_as_modelnew"]))
    assert "no @triton.jit kernel is defined" in obs[0]["content"]
    verdict = grade_submission("relu", HACKS["reference_as_modelnew"], static=False)  # the runtime count alone
    assert verdict.components["correct"] == 0.0
    assert "no Triton kernel was launched" in verdict.details["feedback"]


def test_bf16_tasks_are_refused_on_the_cpu_with_the_reason(local_providers):
    env = KernelsEnv(device="cpu")
    env.use_sandboxes(local_providers)
    try:
        with pytest.raises(BF16OnCPUError, match="interpreter"):
            env.reset(options={"task": curated_task("softmax_bf16")})
    finally:
        env.close()


def test_malformed_replies_become_observations_and_the_last_turn_is_final(local_providers):
    env = KernelsEnv(device="cpu", max_turns=1)
    env.use_sandboxes(local_providers)
    try:
        env.reset(options={"task": curated_task("relu")})
        obs, reward, terminated, truncated, info = env.step("I would use a Triton kernel.")
        assert terminated and not truncated and reward == 0.0
        assert "no ```python block" in obs[0]["content"] and info["malformed"]
    finally:
        env.close()


def test_code_extraction():
    assert extract_source("x\n```python\nA\n```\n```python\nB\n```") == "B\n"
    assert extract_source("class ModelNew(nn.Module): ...") is not None
    assert extract_source("no code") is None


def test_tiered_rubric_gates_each_component_on_the_previous():
    env = KernelsEnv(device="cpu", reward_mode="tiered")
    verdict = Verdict(False, 0.0, {"compiles": 0.0, "correct": 1.0, "speedup": 1.0, "coverage": 1.0})
    assert env.rubric.score(verdict)[0] == 0.0
    weighted = KernelsEnv(device="cpu")
    assert weighted.rubric.score(verdict)[0] == pytest.approx(0.9)
    assert sum(weighted.rubric.weights.values()) == pytest.approx(1.0)


def test_registered_and_draws_from_a_kernelbench_folder():
    env = verigym.make("triton-kernels-v0", device="cpu", problems_dir=str(SAMPLE))
    names = {env.generate_task(seed).name for seed in range(20)}
    assert names <= {"19_ReLU", "23_Softmax", "99_HalfGELU"} and len(names) >= 2


@pytest.mark.timeout(1800)
def test_oracle_episode_on_docker(docker_providers):
    env = KernelsEnv(device="cpu", trials=1, timeout_s=900.0)
    env.use_sandboxes(docker_providers)
    try:
        env.reset(options={"task": curated_task("softmax", trials=1)})
        _, _, terminated, _, info = env.step(env.oracle_action())
        assert terminated and info["reward_components"]["correct"] == 1.0, env.last_verdict.details["feedback"]
    finally:
        env.close()


@pytest.mark.timeout(600)
def test_composed_task_oracle_episode(local_env):
    from verigym.envs.kernels.compose import compose
    from verigym.envs.kernels.task import task_from_problem

    local_env.reset(options={"task": task_from_problem(compose(5), 5, 2)})
    _, _, terminated, _, info = local_env.step(local_env.oracle_action())
    assert terminated and info["reward_components"]["correct"] == 1.0, local_env.last_verdict.details["feedback"]
