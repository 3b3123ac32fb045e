"""Shared fixtures: one random tiny model per test session (built locally, nothing downloaded)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from verigym.agents.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", layers=1, hidden=64, heads=1, kv_heads=1, seed=0)


@pytest.fixture(scope="session")
def dense_env_id():
    """A runtime-registered env whose reward (answer length) varies even for a random model."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class LengthEnv(CopyDigitsEnv):
        env_id = "dense-length-v0"

        def on_turn(self, action):
            value = min(len(action) / 40.0, 1.0)
            verdict = Verdict(False, value, {"format": value, "numeric": 0.0, "digits": 0.0, "correct": 0.0})
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=verdict)

    if "dense-length-v0" not in get_registry().envs.names():
        register_env("dense-length-v0", LengthEnv)
    return "dense-length-v0"
