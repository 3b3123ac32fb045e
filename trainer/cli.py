"""`verigym train CONFIG.toml` and `verigym plot RUN_DIR`."""

from __future__ import annotations

import argparse

from verigym.agents.cli import parse_settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a policy on a registered env (GRPO-family, see trainer/README.md)")
    train.add_argument("config", help="TOML config file, e.g. examples/configs/demo.toml")
    train.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key, e.g. max_steps=10 or rollout.engine=\"hf\"")
    train.add_argument("--run-dir", help="override run_dir")
    train.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in the run dir (default: resume)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

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
    state = Trainer(config, resume=not args.fresh).fit()
    evals = state.get("evals", {})
    if "before" in evals or "after" in evals:
        print(f"greedy success on held-out seeds: before {evals.get('before', float('nan')):.3f} -> after {evals.get('after', float('nan')):.3f}")
    print(f"run directory: {config.run_dir}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from verigym.trainer.plot import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(path)
    return 0
