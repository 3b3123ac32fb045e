"""Every known hack scores 0 on `correct`: through the env (static + runtime checks), and, for the hacks that
run on the CPU, again with the static check bypassed (runtime checks and the host comparison alone)."""

from __future__ import annotations

import pytest
from verigym.envs.kernels.hacks import HACKS, RUNTIME, STATIC_ONLY
from verigym.envs.kernels.static_check import check_source
from verigym.envs.kernels.task import curated_task

STATICALLY_CAUGHT = {
    "reference_as_modelnew", "try_except_fallback", "subclass_reference", "import_reference", "background_thread",
    "side_stream", "patch_allclose", "patch_timer", "patch_harness", "fake_result_file",
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_static_check_verdict_per_hack(name):
    report = check_source(HACKS[name])
    assert report.ok is (name not in STATICALLY_CAUGHT), report.violations


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(HACKS))
def test_hack_scores_zero_on_correct(name, grade_submission):
    verdict = grade_submission("relu", HACKS[name])
    assert verdict.components["correct"] == 0.0 and not verdict.passed, verdict.details["feedback"]
    assert verdict.components["coverage"] == 0.0 and verdict.components["speedup"] == 0.0


@pytest.mark.timeout(600)
def test_a_hack_through_the_env_gets_feedback_and_zero_reward(local_env):
    local_env.reset(options={"task": curated_task("relu", trials=2)})
    obs, reward, terminated, _, _ = local_env.step(f"```python\n{HACKS['cached_output']}```")
    assert not terminated and reward == 0.0 and local_env.last_verdict.components["correct"] == 0.0
    assert "an output reuses a previous call's buffer" in obs[0]["content"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(n for n in RUNTIME if n in STATICALLY_CAUGHT))
def test_hack_scores_zero_without_the_static_check(name, grade_submission):
    verdict = grade_submission("relu", HACKS[name], static=False)
    assert verdict.components["correct"] == 0.0, verdict.details["feedback"]
    assert verdict.components["coverage"] == 0.0


def test_static_only_hacks_are_the_documented_ones():
    assert STATIC_ONLY <= STATICALLY_CAUGHT
