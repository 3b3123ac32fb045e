"""Trainer config: the engine is a registered policy, the [sandbox] table reaches the collector's settings."""

from __future__ import annotations

import pytest

from verigym.trainer.config import TrainerConfig, from_dict


def test_engine_is_checked_against_the_policy_registry():
    from verigym.plugins.registry import get_registry

    assert {"hf", "vllm"} <= set(get_registry().policies.names())
    with pytest.raises(ValueError, match="not a registered policy; choose one of .*'hf'.*'vllm'"):
        from_dict(TrainerConfig, {"rollout": {"engine": "nope"}}).validate()
    assert from_dict(TrainerConfig, {"rollout": {"engine": "hf"}}).validate().rollout.engine == "hf"


def test_sandbox_table_defaults_and_validation():
    cfg = from_dict(TrainerConfig, {}).validate()
    assert (cfg.sandbox.backend, cfg.sandbox.pool_size) == ("auto", None)
    cfg = from_dict(TrainerConfig, {"sandbox": {"backend": "local", "pool_size": 4}}).validate()
    assert (cfg.sandbox.backend, cfg.sandbox.pool_size) == ("local", 4)
    with pytest.raises(ValueError, match="sandbox.backend 'nope' unknown"):
        from_dict(TrainerConfig, {"sandbox": {"backend": "nope"}}).validate()
    with pytest.raises(ValueError, match="sandbox.pool_size"):
        from_dict(TrainerConfig, {"sandbox": {"pool_size": 0}}).validate()
    with pytest.raises(ValueError, match="unknown key"):
        from_dict(TrainerConfig, {"sandbox": {"backed": "local"}})


def test_schedule_and_chunk_settings_are_validated():
    with pytest.raises(ValueError, match="rollout.schedule"):
        from_dict(TrainerConfig, {"rollout": {"schedule": "async"}}).validate()
    with pytest.raises(ValueError, match="logits_chunk_mib"):
        from_dict(TrainerConfig, {"optim": {"logits_chunk_mib": 0}}).validate()
