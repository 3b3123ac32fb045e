"""The training loop on CPU with the transformers engine: exact resume, atomic checkpoints, dropped episodes."""

from __future__ import annotations

import json

import pytest
import torch

from verigym.envs.copy_digits.env import CopyDigitsEnv
from verigym.envs.verdict import VerifierError
from verigym.plugins.registry import get_registry, register_env
from verigym.trainer import checkpoint as ckpt_mod
from verigym.trainer.config import TrainerConfig, from_dict, load_config
from verigym.trainer.loop import Trainer
from verigym.trainer.metrics import read_metrics
from verigym.trainer.plot import plot_run

VOLATILE = ("time/", "tokens_per_s")


def make_config(run_dir, model_dir, **top):
    data = {
        "run_dir": str(run_dir),
        "seed": 3,
        "max_steps": 4,
        "model": {"path": str(model_dir)},
        "env": {"id": "copy-digits-v0", "kwargs": {"min_len": 2, "max_len": 2}},
        "rollout": {"engine": "hf", "groups_per_step": 2, "group_size": 4, "max_tokens": 5, "temperature": 1.0},
        "optim": {"lr": 1e-2, "micro_batch_size": 3, "warmup_steps": 2, "schedule": "cosine"},
        "eval": {"episodes": 0},
        "checkpoint": {"every": 1, "keep": 2},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }
    for key, value in top.items():
        section, _, leaf = key.partition("__")
        if leaf:
            data[section][leaf] = value
        else:
            data[section] = value
    return from_dict(TrainerConfig, data).validate()


def stable(records):
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)} for r in records]


def test_resume_after_a_stop_reproduces_the_uninterrupted_run(tmp_path, tiny_model_dir, dense_env_id):
    dense = {"id": dense_env_id, "kwargs": {}}
    full = make_config(tmp_path / "full", tiny_model_dir, env=dense)
    Trainer(full).fit()
    reference = stable(read_metrics(full.run_dir))

    cut = make_config(tmp_path / "cut", tiny_model_dir, env=dense)
    Trainer(cut, stop_after=2).fit()  # as if killed right after step 2's checkpoint
    assert [r["step"] for r in read_metrics(cut.run_dir)] == [1, 2]
    Trainer(cut).fit()  # resumes from step-000002
    resumed = stable(read_metrics(cut.run_dir))

    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert resumed == reference  # every metric of steps 3 and 4 is bit-identical
    assert all(r["grad_norm"] > 0 for r in reference)  # real updates happened on both sides of the cut
    assert len({r["reward/mean"] for r in reference}) > 1
    a = torch.load(ckpt_mod.latest_checkpoint(full.run_dir) / "model.pt")
    b = torch.load(ckpt_mod.latest_checkpoint(cut.run_dir) / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(ckpt_mod.list_checkpoints(cut.run_dir)) == 2  # keep = 2


def test_a_checkpoint_that_fails_half_way_leaves_nothing_behind(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ckpt_mod.save_checkpoint(tmp_path, ckpt_mod.TrainerState(step=1), model, opt, sched, {})
    real_save = torch.save
    calls = {"n": 0}

    def flaky(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(ckpt_mod.torch, "save", flaky)
    with pytest.raises(OSError, match="disk full"):
        ckpt_mod.save_checkpoint(tmp_path, ckpt_mod.TrainerState(step=2), model, opt, sched, {})
    entries = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert entries == ["step-000001"]
    assert ckpt_mod.latest_checkpoint(tmp_path).name == "step-000001"


class FlakyVerifierEnv(CopyDigitsEnv):
    """copy-digits whose verifier crashes on every third task seed."""

    env_id = "flaky-copy-v0"

    def on_turn(self, action):
        if self.task.seed % 3 == 0:
            raise VerifierError("verifier crashed on purpose")
        return super().on_turn(action)


def test_dropped_episodes_are_counted_and_skipped(tmp_path, tiny_model_dir):
    if "flaky-copy-v0" not in get_registry().envs.names():
        register_env("flaky-copy-v0", FlakyVerifierEnv)
    cfg = make_config(tmp_path / "flaky", tiny_model_dir, max_steps=2, env={"id": "flaky-copy-v0", "kwargs": {}},
                      checkpoint={"every": 0, "keep": 1})
    Trainer(cfg).fit()
    records = read_metrics(cfg.run_dir)
    # step 1 plays seeds 0,1 (seed 0 crashes: 4 dropped); step 2 plays seeds 2,3 (seed 3 crashes)
    assert [r["episodes/dropped"] for r in records] == [4.0, 4.0]
    assert [r["episodes/dropped/verifier"] for r in records] == [4.0, 4.0]  # counted by the typed drop_reason
    assert all(r["episodes/dropped/env"] == 0.0 and r["episodes/dropped/policy"] == 0.0 for r in records)
    assert all(r["episodes"] == 8.0 and "grad_norm" in r for r in records)


def test_dynamic_sampling_refills_zero_variance_groups(tmp_path, tiny_model_dir):
    cfg = make_config(tmp_path / "dyn", tiny_model_dir, max_steps=1,
                      rollout={"engine": "hf", "groups_per_step": 2, "group_size": 2, "max_tokens": 3, "dynamic_sampling": True, "max_resample_rounds": 2},
                      checkpoint={"every": 0, "keep": 1})
    Trainer(cfg).fit()
    (record,) = read_metrics(cfg.run_dir)
    # a random model almost always scores 0 on every sample: groups get dropped and refilled
    assert record["dynamic/rounds"] >= 2
    assert record["episodes"] > 4


def test_plot_writes_pngs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = [{"step": s, "reward/mean": s / 10, "reward/format": 0.5, "success_rate": 0.1 * s, "time/update": 1.0, "grad_norm": 1.0} for s in range(1, 6)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    paths = plot_run(run)
    assert [p.name for p in paths] == ["curves.png", "reward.png"]
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_config_errors_say_what_to_do(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('max_steps = 3\n[rollout]\nengin = "vllm"\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['engin'\] in \[rollout\]; known keys: .*engine"):
        load_config(bad)
    bad.write_text('[algorithm]\nadvantage = "ppo"\n')
    with pytest.raises(ValueError, match="choose one of .*grpo"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('max_steps = 3\n[loss]\nclip_high = 1\n[optim]\nbetas = [0.9, 0.99]\n')
    cfg = load_config(good, {"rollout.group_size": 4})
    assert cfg.loss.clip_high == 1.0 and cfg.optim.betas == (0.9, 0.99) and cfg.rollout.group_size == 4


def test_example_configs_load():
    """Every shipped config loads with its own loader: `verigym train` configs here, `verigym demo` pipeline
    configs (those with a [pipeline] table) with the pipeline loader."""
    import tomllib
    from pathlib import Path

    from verigym.trainer.pipeline import load_pipeline_config

    configs = sorted(Path(__file__).resolve().parents[2].joinpath("examples", "configs").glob("*.toml"))
    trainer_configs = [p for p in configs if "pipeline" not in tomllib.loads(p.read_text())]
    assert trainer_configs and len(trainer_configs) < len(configs)
    for path in configs:
        (load_config if path in trainer_configs else load_pipeline_config)(path)


def test_multi_turn_episodes_train_with_turn_level_advantages(tmp_path, tiny_model_dir):
    cfg = make_config(tmp_path / "mt", tiny_model_dir, max_steps=1, algorithm={"advantage": "trloo", "gamma": 0.9},
                      env={"id": "copy-digits-v0", "kwargs": {"min_len": 1, "max_len": 1, "max_turns": 2}},
                      checkpoint={"every": 0, "keep": 1})
    Trainer(cfg).fit()
    (record,) = read_metrics(cfg.run_dir)
    assert record["turns/mean"] == 2.0  # a random model fails turn 1, is told so, and answers again
    assert record["episodes/dropped"] == 0.0 and "loss/pg" in record


def test_a_run_killed_with_sigkill_resumes_to_the_same_metrics(tmp_path, tiny_model_dir):
    """A real process is SIGKILLed right after step 2's checkpoint lands; the resumed run matches."""
    import os
    import signal
    import subprocess
    import sys
    import time

    steps = 6
    full = make_config(tmp_path / "full", tiny_model_dir, max_steps=steps)
    Trainer(full).fit()
    reference = stable(read_metrics(full.run_dir))

    killed = make_config(tmp_path / "killed", tiny_model_dir, max_steps=steps)
    config_json = tmp_path / "killed.json"
    config_json.write_text(json.dumps(killed.to_dict()))
    script = (
        "import json, sys\n"
        "from verigym.trainer.config import TrainerConfig, from_dict\n"
        "from verigym.trainer.loop import Trainer\n"
        "Trainer(from_dict(TrainerConfig, json.load(open(sys.argv[1]))).validate()).fit()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(config_json)])
    deadline = time.monotonic() + 240
    while not ckpt_mod.list_checkpoints(killed.run_dir) or ckpt_mod.latest_checkpoint(killed.run_dir).name < "step-000002":
        assert proc.poll() is None, "the training process ended before its second checkpoint"
        assert time.monotonic() < deadline, "no second checkpoint within 240 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cut_at = int(ckpt_mod.latest_checkpoint(killed.run_dir).name.split("-")[1])
    assert cut_at < steps, "the run finished before it could be killed; nothing was resumed"

    Trainer(killed).fit()
    resumed = stable(read_metrics(killed.run_dir))
    assert [r["step"] for r in resumed] == list(range(1, steps + 1))
    assert resumed == reference
