"""`verigym demo [CONFIG.toml]`: build a tiny model, write oracle episodes, SFT, RL, and evaluate each stage.

One TOML file holds every setting: `[pipeline]` (run dir, data and evaluation sizes, the held-out
category), `[model]` and `[env]` (shared by every stage), `[sft]` (an `SFTConfig` without model, data
files and run dir) and `[rl]` (a `TrainerConfig` without model, env and run dir). Greedy success is
measured on the same held-out seeds of the training categories, and on a held-out category, before SFT,
after SFT and after RL.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verigym.trainer.config import EnvSection, ModelConfig, TrainerConfig, from_dict, read_toml
from verigym.trainer.sft import SFTConfig, sft_config_from_dict

STAGES = ("before SFT", "after SFT", "after RL")


@dataclass
class PipelineSection:
    """Sizes of the pipeline's own steps.

    `oracle_episodes` oracle episodes (task seeds `oracle_seed_start`..) are the SFT data, played in the
    training env with `oracle_env_kwargs` on top (settings that change only the scripted oracle's play,
    e.g. beam-statics' `oracle = "probe"`). With `oracle_mix`, a list of such tables, the oracle seeds are
    dealt round-robin over them (each on top of `oracle_env_kwargs`): SFT data that solves the same tasks in
    several correct ways, for RL to choose between. Evaluation plays
    `eval_episodes` greedy episodes on seeds `eval_seed_start`.. (disjoint from the oracle and RL seeds)
    with `eval_engine` (a registered model policy; `hf` starts fastest on CPU), once in the training
    categories and once with `heldout_env_kwargs` (e.g. the moved-support `overhang` layout).
    With `split_tasks` (default) the oracle and RL play the env's "train" split and the training-category
    evaluation its "eval" split (`envs/task_split.py`; `eval_fraction` in [env] kwargs sizes it), so no
    evaluated task was trained on, however small the task space; the held-out category plays all its tasks.
    """

    run_dir: str = "runs/demo"
    oracle_episodes: int = 1000
    oracle_seed_start: int = 0
    oracle_env_kwargs: dict[str, Any] = field(default_factory=dict)
    oracle_mix: list[dict[str, Any]] = field(default_factory=list)
    eval_episodes: int = 100
    eval_seed_start: int = 1_000_000_000
    eval_engine: str = "hf"
    heldout_name: str = "held-out category"
    heldout_env_kwargs: dict[str, Any] = field(default_factory=dict)
    split_tasks: bool = True
    skip_rl: bool = False


@dataclass
class PipelineConfig:
    """The whole pipeline (see the module docstring)."""

    pipeline: PipelineSection
    model: ModelConfig
    env: EnvSection
    sft: SFTConfig
    rl: TrainerConfig

    def stage_dir(self, name: str) -> Path:
        return Path(self.pipeline.run_dir) / name

    def env_kwargs(self, part: str) -> dict[str, Any]:
        """The training env's kwargs for the "train" or "eval" part of its tasks (all of them without `split_tasks`)."""
        return split_kwargs(self.pipeline, self.env.kwargs, part)


def split_kwargs(pipe: PipelineSection, kwargs: dict[str, Any], part: str) -> dict[str, Any]:
    return {**kwargs, "split": part} if pipe.split_tasks else dict(kwargs)


def load_pipeline_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read the pipeline TOML (unknown keys refused), apply dotted `overrides`, and derive the stage configs:
    model paths, run dirs and data files are filled in by the pipeline, never set per stage."""
    return pipeline_config_from_dict(read_toml(path, overrides))


def pipeline_config_from_dict(data: dict[str, Any]) -> PipelineConfig:
    """Build and cross-fill a `PipelineConfig` from nested dicts."""
    known = {"pipeline", "model", "env", "sft", "rl"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"config: unknown table(s) {sorted(unknown)}; known: {sorted(known)}")
    pipe = from_dict(PipelineSection, data.get("pipeline", {}), "pipeline")
    root = Path(pipe.run_dir)
    model_data = dict(data.get("model", {}))
    model_data.setdefault("path", str(root / "model"))
    model = from_dict(ModelConfig, model_data, "model")
    env = from_dict(EnvSection, data.get("env", {}), "env")
    for stage in ("sft", "rl"):
        for owned in ("model", "env", "run_dir"):
            if owned in data.get(stage, {}):
                raise ValueError(f"config: [{stage}] must not set {owned!r}; the pipeline sets it (edit [model]/[env]/[pipeline])")
    sft_data = dict(data.get("sft", {}))
    sft_data["run_dir"] = str(root / "sft")
    sft_data["model"] = {**model_data}
    sft_data.setdefault("data", {})
    if "files" in sft_data["data"]:
        raise ValueError("config: [sft.data] must not set files; the pipeline writes the oracle episodes")
    sft_data["data"] = {**sft_data["data"], "files": [str(root / "oracle.parquet")]}
    sft = sft_config_from_dict(sft_data)
    rl_data = dict(data.get("rl", {}))
    rl_data["run_dir"] = str(root / "rl")
    rl_data["model"] = {**model_data, "path": str(root / "sft" / "final-model"), "build_tiny": False}
    # RL plays fresh tasks: its seeds start after the oracle's (the SFT data) unless [env] sets seed_start
    rl_env = {"seed_start": pipe.oracle_seed_start + pipe.oracle_episodes, **data.get("env", {})}
    rl_data["env"] = {**rl_env, "kwargs": split_kwargs(pipe, rl_env.get("kwargs", {}), "train")}
    rl = from_dict(TrainerConfig, rl_data, "rl").validate()
    return PipelineConfig(pipe, model, env, sft, rl)


@dataclass
class PipelineReport:
    """Greedy success per stage on the training categories' held-out seeds and on the held-out category."""

    success: dict[str, dict[str, float]]  # stage -> {"train categories": x, heldout_name: y}
    seconds: dict[str, float]
    plots: list[str]
    heldout_name: str
    eval_episodes: int

    def table(self) -> str:
        cols = ["train categories", self.heldout_name]
        width = max(len(c) for c in cols) + 2
        lines = [f"greedy success on {self.eval_episodes} held-out seeds per column", f"{'stage':<12}" + "".join(f"{c:>{width}}" for c in cols)]
        for stage, row in self.success.items():
            lines.append(f"{stage:<12}" + "".join(f"{row.get(c, float('nan')):>{width}.3f}" for c in cols))
        lines.append("time: " + ", ".join(f"{k} {v:.0f}s" for k, v in self.seconds.items()))
        lines += [f"plot: {p}" for p in self.plots]
        return "\n".join(lines)


def write_oracle_episodes(cfg: PipelineConfig, model_dir: Path) -> Path:
    """Oracle episodes on the training categories, tokenized with the model's tokenizer (ids + loss masks)."""
    from transformers import AutoTokenizer

    from verigym.agents.collect import collect
    from verigym.agents.records import write_episodes
    from verigym.agents.scripted import OraclePolicy

    p = cfg.pipeline
    seeds = list(range(p.oracle_seed_start, p.oracle_seed_start + p.oracle_episodes))
    variants = p.oracle_mix or [{}]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    records = []
    for i, variant in enumerate(variants):
        records += collect(
            cfg.env.id,
            OraclePolicy(),
            seeds[i :: len(variants)],
            env_kwargs={**cfg.env_kwargs("train"), **p.oracle_env_kwargs, **variant},
            max_turns=cfg.rl.rollout.max_turns,
            tokenizer=tokenizer,
            concurrency=64,
            schedule="lockstep",
        )
    out = cfg.stage_dir("oracle.parquet")
    write_episodes(out, sorted(records, key=lambda r: r.seed))
    return out


def greedy_success(cfg: PipelineConfig, model_dir: Path, env_kwargs: dict[str, Any]) -> float:
    """Greedy success rate of the model in `model_dir` on `eval_episodes` seeds from `eval_seed_start`."""
    from verigym.agents.collect import collect
    from verigym.agents.policy import SamplingParams
    from verigym.plugins.registry import accepted_policy_settings, make_policy
    from verigym.trainer.model import resolve_device, resolve_dtype
    from verigym.trainer.rollout import _dtype_name

    p, r = cfg.pipeline, cfg.rl.rollout
    device = resolve_device(cfg.model.device)
    offered = {
        "device": str(device),
        "dtype": _dtype_name(resolve_dtype(cfg.model.dtype, device)),
        "batch_size": 128,
        "max_model_len": r.max_model_len,
        "gpu_memory_utilization": r.gpu_memory_utilization,
        "seed": 0,
    }
    policy = make_policy(p.eval_engine, model=str(model_dir), **accepted_policy_settings(p.eval_engine, offered))
    records = collect(
        cfg.env.id,
        policy,
        list(range(p.eval_seed_start, p.eval_seed_start + p.eval_episodes)),
        env_kwargs=env_kwargs,
        max_turns=r.max_turns,
        sampling=SamplingParams(temperature=0.0, max_tokens=r.max_tokens, seed=0, stop=tuple(r.stop)),
        concurrency=128,
        schedule="lockstep",
    )
    scored = [x for x in records if not x.dropped]
    return sum(x.success for x in scored) / max(len(scored), 1)


def evaluate_stage(cfg: PipelineConfig, model_dir: Path) -> dict[str, float]:
    """Greedy success in the training categories and in the held-out category."""
    heldout_kwargs = {**cfg.env.kwargs, "categories": [], "exclude_categories": [], **cfg.pipeline.heldout_env_kwargs}
    return {
        "train categories": greedy_success(cfg, model_dir, cfg.env_kwargs("eval")),
        cfg.pipeline.heldout_name: greedy_success(cfg, model_dir, heldout_kwargs),
    }


def run_pipeline(cfg: PipelineConfig) -> PipelineReport:
    """Every stage in order; writes RUN_DIR/report.json and returns the report."""
    from verigym.trainer.loop import Trainer
    from verigym.trainer.model import ensure_model
    from verigym.trainer.sft import run_sft

    root = Path(cfg.pipeline.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    success: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    plots: list[str] = []

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        print(f"== {name}", file=sys.stderr)
        value = fn()
        seconds[name] = time.perf_counter() - t0
        return value

    model_dir = timed("model", lambda: ensure_model(cfg.model))
    timed("oracle", lambda: write_oracle_episodes(cfg, model_dir))
    success[STAGES[0]] = timed("eval before SFT", lambda: evaluate_stage(cfg, model_dir))
    _progress(STAGES[0], success)
    result = timed("sft", lambda: run_sft(cfg.sft))
    sft_model = Path(result["final_model"])
    success[STAGES[1]] = timed("eval after SFT", lambda: evaluate_stage(cfg, sft_model))
    _progress(STAGES[1], success)
    plots += [str(p) for p in sorted((cfg.stage_dir("sft") / "plots").glob("curves.png"))]
    if not cfg.pipeline.skip_rl:
        timed("rl", lambda: Trainer(cfg.rl, resume=False).fit())
        success[STAGES[2]] = timed("eval after RL", lambda: evaluate_stage(cfg, Path(cfg.rl.run_dir) / "final-model"))
        _progress(STAGES[2], success)
        plots += [str(p) for p in sorted((Path(cfg.rl.run_dir) / "plots").glob("*.png"))]
    seconds["total"] = sum(seconds.values())
    report = PipelineReport(success, seconds, plots, cfg.pipeline.heldout_name, cfg.pipeline.eval_episodes)
    (root / "report.json").write_text(json.dumps({"success": success, "seconds": seconds, "plots": plots}, indent=2) + "\n")
    return report


def _progress(stage: str, success: dict[str, dict[str, float]]) -> None:
    row = ", ".join(f"{k} {v:.3f}" for k, v in success[stage].items())
    print(f"greedy success {stage}: {row}", file=sys.stderr)


__all__ = ["PipelineConfig", "PipelineReport", "evaluate_stage", "load_pipeline_config", "pipeline_config_from_dict", "run_pipeline"]
