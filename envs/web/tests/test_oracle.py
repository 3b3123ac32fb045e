"""The oracle, scripted through the action grammar, earns full reward on 100 seeds per site in text mode."""

from __future__ import annotations

import collections

import pytest

from verigym.envs.web.scripted import play_oracle


@pytest.mark.timeout(120)
@pytest.mark.parametrize("site", ["shop", "forum"])
def test_oracle_full_reward_on_100_seeds_in_text_mode(site: str, envs) -> None:
    env = envs(site, "text")
    kinds: collections.Counter[str] = collections.Counter()
    for seed in range(100):
        env.reset(seed=seed)
        kinds[env.task.kind] += 1
        played = play_oracle(env)
        assert played.terminated and not played.truncated, (seed, env.task.kind)
        assert played.reward == 1.0, (seed, env.task.kind, played.info["verdict"].details)
        assert played.info["reward_components"] == {"success": 1.0, "partial": 1.0}
    expected = {"shop": 9, "forum": 12}[site]
    assert len(kinds) == expected, f"every task kind should appear in 100 seeds, got {dict(kinds)}"
