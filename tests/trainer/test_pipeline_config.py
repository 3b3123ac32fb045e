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
    assert cfg.env.id == "beam-statics-v0" and cfg.rl.env.id == cfg.env.id
    # RL and the oracle play the train part of the task space, the evaluation its eval part
    assert cfg.rl.env.kwargs == {**cfg.env.kwargs, "split": "train"} == cfg.env_kwargs("train")
    assert cfg.env_kwargs("eval") == {**cfg.env.kwargs, "split": "eval"}
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


def test_the_demo_never_evaluates_a_task_it_trained_on():
    """Seeds alone overlapped: the demo's 100 evaluation seeds were all among its 3,000 oracle seeds' tasks."""
    from verigym.plugins.registry import make

    cfg = load_pipeline_config(CONFIGS / "demo_beam.toml")
    p = cfg.pipeline

    def openings(part, seeds):
        env = make(cfg.env.id, **cfg.env_kwargs(part))
        return {env.reset(seed=s)[0][-1]["content"] for s in seeds}

    trained = openings("train", range(p.oracle_seed_start, p.oracle_seed_start + p.oracle_episodes))
    evaluated = openings("eval", range(p.eval_seed_start, p.eval_seed_start + p.eval_episodes))
    assert len(evaluated) >= 30 and len(trained) >= 200
    assert not trained & evaluated
    unsplit = pipeline_config_from_dict({"pipeline": {"split_tasks": False}, "env": {"kwargs": {"lengths": [2, 3]}}})
    assert unsplit.env_kwargs("eval") == unsplit.rl.env.kwargs == {"lengths": [2, 3]}


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


def test_oracle_mix_deals_the_seeds_over_each_strategy_on_the_train_split(tmp_path, tiny_model_dir):
    import json

    from verigym.agents.records import read_episodes
    from verigym.envs.task_split import task_part
    from verigym.trainer.pipeline import write_oracle_episodes

    cfg = load_pipeline_config(CONFIGS / "demo_beam.toml", {
        "pipeline.run_dir": str(tmp_path), "pipeline.oracle_episodes": 40,
        "pipeline.oracle_mix": [{}, {"oracle": "answer"}],
    })
    records = read_episodes(write_oracle_episodes(cfg, tiny_model_dir))
    assert [r.seed for r in records] == list(range(40))
    # even seeds: check-zeros then answer (2 turns); odd seeds: the answer at once
    assert [r.turns for r in records] == [2, 1] * 20
    assert all(r.success for r in records) and all(r.token_ids for r in records)
    from verigym.envs.beam_statics.task import BeamTask

    frac = cfg.env.kwargs["eval_fraction"]
    assert all(task_part(BeamTask.from_dict(json.loads(r.task_json)), frac) == "train" for r in records)
