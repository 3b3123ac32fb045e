"""It learns: a short run of the demo setting (random tiny model, copy-digits-v0) clearly raises reward.

This CI version runs 16 steps and asserts that the reward and its `format` component clearly rise from
the random model's ~0 (the full demo is `verigym train examples/configs/demo.toml`).
"""

from __future__ import annotations

import pytest

from verigym.trainer.config import TrainerConfig, from_dict
from verigym.trainer.loop import Trainer
from verigym.trainer.metrics import read_metrics


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_run_clearly_improves_reward(tmp_path):
    cfg = from_dict(TrainerConfig, {
        "run_dir": str(tmp_path / "run"),
        "seed": 0,
        "max_steps": 16,
        "model": {"path": str(tmp_path / "model"), "build_tiny": True, "tiny": {"layers": 1, "hidden": 64, "heads": 1, "kv_heads": 1}},
        "env": {"id": "copy-digits-v0", "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8}},
        "rollout": {"engine": "hf", "groups_per_step": 8, "group_size": 8, "max_tokens": 4},
        "optim": {"lr": 3e-3, "micro_batch_size": 64},
        "eval": {"episodes": 0},
        "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }).validate()
    Trainer(cfg).fit()
    records = read_metrics(cfg.run_dir)
    first = sum(r["reward/mean"] for r in records[:3]) / 3
    last = sum(r["reward/mean"] for r in records[-3:]) / 3
    fmt_first = sum(r["reward/format"] for r in records[:3]) / 3
    fmt_last = sum(r["reward/format"] for r in records[-3:]) / 3
    assert last > first + 0.03, (first, last)
    assert fmt_last > fmt_first + 0.15, (fmt_first, fmt_last)
