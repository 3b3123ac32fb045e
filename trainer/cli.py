"""`verigym train CONFIG.toml`, `verigym sft [CONFIG.toml]`, `verigym demo` and `verigym plot RUN_DIR`."""

from __future__ import annotations

import argparse

from verigym.agents.cli import parse_settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a policy on a registered env (GRPO-family, see trainer/README.md)")
    train.add_argument("config", help="TOML config file, e.g. examples/configs/smoke_copy_digits.toml")
    train.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key, e.g. max_steps=10 or rollout.engine=\"hf\"")
    train.add_argument("--run-dir", help="override run_dir")
    train.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in the run dir (default: resume)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    sft = sub.add_parser("sft", help="supervised fine-tuning on episode Parquet files (loss on policy tokens only)")
    sft.add_argument("config", nargs="?", help="TOML config file (see trainer/sft.py); optional when --data and --model are given")
    sft.add_argument("--data", action="append", default=[], metavar="FILE", help="episode Parquet file or glob (repeatable; replaces data.files)")
    sft.add_argument("--model", help="HF model directory to fine-tune (model.path)")
    sft.add_argument("--min-reward", type=float, help="keep only episodes with total reward >= this (rejection-sampling fine-tuning)")
    sft.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key, e.g. train.max_steps=50")
    sft.add_argument("--run-dir", help="override run_dir (the model lands in RUN_DIR/final-model)")
    sft.add_argument("--no-progress", action="store_true", help="no progress bar")
    sft.set_defaults(func=cmd_sft)

    demo = sub.add_parser("demo", help="the beam-statics pipeline: tiny model -> oracle episodes -> SFT -> RL -> evaluation table")
    demo.add_argument("config", nargs="?", default="examples/configs/demo_beam.toml", help="pipeline TOML (default examples/configs/demo_beam.toml)")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a key, e.g. rl.max_steps=10 or sft.train.max_steps=5")
    demo.add_argument("--run-dir", help="override pipeline.run_dir")
    demo.set_defaults(func=cmd_demo)

    plot = sub.add_parser("plot", help="write PNG training curves of a run (RUN_DIR/plots/)")
    plot.add_argument("run_dir")
    plot.add_argument("--out", help="output folder (default RUN_DIR/plots)")
    plot.set_defaults(func=cmd_plot)


def cmd_train(args: argparse.Namespace) -> int:
    from verigym.trainer.config import load_config
    from verigym.trainer.loop import Trainer

    overrides = parse_settings(args.set)
    if args.run_dir:
        overrides["run_dir"] = args.run_dir
    if args.no_progress:
        overrides["log.progress"] = False
    config = load_config(args.config, overrides)
    from verigym.trainer.distributed import context_from_env

    state = Trainer(config, resume=not args.fresh).fit()
    if not context_from_env().is_main:
        return 0  # under torchrun, rank 0 reports for the job
    evals = state.get("evals", {})
    if "before" in evals or "after" in evals:
        print(f"greedy success on held-out seeds: before {evals.get('before', float('nan')):.3f} -> after {evals.get('after', float('nan')):.3f}")
    print(f"run directory: {config.run_dir}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from verigym.trainer.sft import load_sft_config, run_sft, sft_config_from_dict

    overrides = parse_settings(args.set)
    if args.data:
        overrides["data.files"] = list(args.data)
    if args.model:
        overrides["model.path"] = args.model
    if args.min_reward is not None:
        overrides["data.min_reward"] = args.min_reward
    if args.run_dir:
        overrides["run_dir"] = args.run_dir
    if args.no_progress:
        overrides["log.progress"] = False
    if args.config:
        config = load_sft_config(args.config, overrides)
    else:
        if not args.data or not args.model:
            raise ValueError("give a CONFIG.toml, or both --data FILE and --model DIR")
        from verigym.trainer.config import apply_overrides

        config = sft_config_from_dict(apply_overrides({}, overrides))
    result = run_sft(config)
    print(f"held-out loss: {result['eval_loss_before']:.4f} -> {result['eval_loss_after']:.4f} after {result['steps']} steps")
    print(f"model: {result['final_model']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from verigym.trainer.pipeline import load_pipeline_config, run_pipeline

    overrides = parse_settings(args.set)
    if args.run_dir:
        overrides["pipeline.run_dir"] = args.run_dir
    report = run_pipeline(load_pipeline_config(args.config, overrides))
    print(report.table())
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from verigym.trainer.plot import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(path)
    return 0
