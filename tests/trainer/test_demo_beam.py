"""`verigym demo` end to end, shortened: tiny model -> oracle episodes -> SFT -> RL -> evaluation table.

Same config file as `make demo` (examples/configs/demo_beam.toml: the same 3-layer model, tokenizer, terse
prompt and `check-zeros` oracle data), shrunk to 200 SFT steps, 3 small RL steps on the hf engine and 50
evaluation seeds. It checks the wiring, that SFT learns the oracle's tokens (held-out loss falls) and that the
SFT'd model beats the untrained one in greedy success on the training categories' held-out seeds. Measured
(2 shared CPU cores, load average 1-2.6): 86 s; greedy success 0.00 before SFT -> 0.18 after SFT (9 of 50
seeds) -> 0.02 after RL (3 steps of 4 x 4 episodes at the full run's lr 3e-4 knock the half-trained model
back), overhang 0.00 throughout; held-out loss 7.24 -> ~0.1. The assertion leaves 4 episodes of slack
(>= +0.10). RL > SFT is not asserted: the full demo does not reach it reliably (+0.04 measured; numbers in
examples/configs/demo_beam.toml).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verigym.trainer.pipeline import STAGES, load_pipeline_config, run_pipeline

DEMO = Path(__file__).resolve().parents[2] / "examples" / "configs" / "demo_beam.toml"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_demo_pipeline_runs_every_stage_and_sft_beats_the_untrained_model(tmp_path):
    cfg = load_pipeline_config(DEMO, {
        "pipeline.run_dir": str(tmp_path / "demo"),
        "pipeline.eval_episodes": 50,
        "sft.train.max_steps": 200,
        "sft.log.progress": False,
        "rl.max_steps": 3,
        "rl.rollout.engine": "hf",
        "rl.rollout.groups_per_step": 4,
        "rl.rollout.group_size": 4,
        "rl.log.progress": False,
    })
    report = run_pipeline(cfg)
    assert list(report.success) == list(STAGES)
    for row in report.success.values():
        assert set(row) == {"train categories", cfg.pipeline.heldout_name} and all(0.0 <= v <= 1.0 for v in row.values())
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["success"] == report.success and "sft" in saved["seconds"] and "rl" in saved["seconds"]
    before, after_sft = (report.success[s]["train categories"] for s in STAGES[:2])
    print(report.table())

    sft_metrics = [json.loads(x) for x in (tmp_path / "demo" / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [m["eval/loss"] for m in sft_metrics if "eval/loss" in m]
    assert losses[-1] < losses[0] - 5.0, losses
    rl_metrics = [json.loads(x) for x in (tmp_path / "demo" / "rl" / "metrics.jsonl").read_text().splitlines()]
    assert max(m["step"] for m in rl_metrics) == 3
    assert (tmp_path / "demo" / "rl" / "final-model" / "config.json").is_file()
    assert report.plots and all(Path(p).is_file() for p in report.plots)
    table = report.table()
    assert "after RL" in table and "overhang" in table
    assert after_sft >= before + 0.1, report.success  # measured 0.00 -> 0.18
