"""The pipeline configs (`verigym demo`): every shipped one parses, stages are wired to each other, and
stage tables cannot set what the pipeline owns."""

from __future__ import annotations

from pathlib import Path

import pytest

from verigym.trainer.pipeline import PipelineReport, load_pipeline_config, pipeline_config_from_dict

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.mark.parametrize("name", ["demo_beam.toml", "gpu_beam.toml"])
def test_shipped_pipeline_configs_parse_and_chain_the_stages(name):
    cfg = load_pipeline_config(CONFIGS / name)
    root = Path(cfg.pipeline.run_dir)
    assert cfg.env.id == "beam-statics-v0" and cfg.rl.env.id == cfg.env.id and cfg.rl.env.kwargs == cfg.env.kwargs
    assert cfg.sft.data.files == [str(root / "oracle.parquet")]
    assert cfg.sft.model.path == cfg.model.path and cfg.sft.run_dir == str(root / "sft")
    assert cfg.rl.model.path == str(root / "sft" / "final-model") and cfg.rl.run_dir == str(root / "rl")
    assert cfg.pipeline.heldout_env_kwargs["categories"] and "overhang" in str(cfg.pipeline.heldout_env_kwargs)
    # the held-out category is never trained on
    from verigym.envs.beam_statics.generator import select_categories

    kw = cfg.env.kwargs
    train = set(select_categories(kw.get("categories", ()), kw.get("exclude_categories", ())))
    held = set(select_categories(cfg.pipeline.heldout_env_kwargs["categories"]))
    assert not train & held
    # RL plays tasks the SFT data never showed, and evaluation seeds are neither
    p = cfg.pipeline
    assert cfg.rl.env.seed_start == p.oracle_seed_start + p.oracle_episodes
    assert p.eval_seed_start >= cfg.rl.env.seed_start + cfg.rl.max_steps * cfg.rl.rollout.groups_per_step * (1 + cfg.rl.rollout.max_resample_rounds)


def test_an_explicit_env_seed_start_wins():
    assert pipeline_config_from_dict({"env": {"seed_start": 7}}).rl.env.seed_start == 7
    assert pipeline_config_from_dict({"pipeline": {"oracle_episodes": 10}}).rl.env.seed_start == 10


def test_gpu_config_uses_lora_vllm_and_a_local_model():
    cfg = load_pipeline_config(CONFIGS / "gpu_beam.toml")
    assert cfg.model.lora.enabled and cfg.rl.model.lora.enabled and cfg.sft.model.lora.enabled
    assert cfg.rl.rollout.engine == "vllm" and not cfg.model.build_tiny and cfg.model.device == "cuda"


def test_stage_tables_cannot_set_what_the_pipeline_owns():
    with pytest.raises(ValueError, match=r"\[rl\] must not set 'model'"):
        pipeline_config_from_dict({"rl": {"model": {"path": "x"}}})
    with pytest.raises(ValueError, match="must not set files"):
        pipeline_config_from_dict({"sft": {"data": {"files": ["a.parquet"]}}})
    with pytest.raises(ValueError, match="unknown table"):
        pipeline_config_from_dict({"trainer": {}})
    with pytest.raises(ValueError, match="unknown key"):
        pipeline_config_from_dict({"pipeline": {"episodes": 3}})


def test_report_table_lists_every_stage_and_column():
    report = PipelineReport(
        {"before SFT": {"train categories": 0.0, "overhang": 0.0}, "after SFT": {"train categories": 0.5, "overhang": 0.02}},
        {"sft": 12.0}, ["runs/x/plots/curves.png"], "overhang", 50,
    )
    text = report.table()
    assert "before SFT" in text and "after SFT" in text and "0.500" in text and "plot: runs/x/plots/curves.png" in text
