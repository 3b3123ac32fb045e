"""Each reward-shaping method vs the same run without it: a short CPU training, the method's own metric.

    python benchmarks/reward_shaping.py [--methods hapo,length_budget,rlcr,noisy_verifier,otc --steps 40
                                         --groups 16 --group-size 8 --engine hf --model DIR]

Per method two runs from the same model and seed: the baseline runs the method's shaper at weight 0 (so the
same metric is logged without changing the reward), the other at its default weight. The model is `--model`
(e.g. the demo's `runs/demo/final-model`, which already copies digits) or else a random tiny model (2 layers x
128, init_std 0.02, built once under --model-dir); from a random model, length and calibration shaping have
nothing to act on until the policy is sometimes right (the demo needs ~100 steps of 32 x 8 episodes for that).
The table shows the method's metric averaged over the first and the last quarter of the steps (steps where it
is undefined, e.g. no correct reply, are skipped: `nan` when none is left), the mean completion length and the
success rate over the last quarter, and the wall time.

| method | env | metric |
|---|---|---|
| hapo | even-reply-v0 (copy-digits prompt; correct = a reply of even length, so half right from the start) | mean length of correct replies (tokens) |
| length_budget | same, budget 6 -> 1 token | mean length of correct replies |
| rlcr | copy-digits-v0 (one digit, bare reply, up to 6 tokens) | Brier score of stated confidence (a random tiny model states none: expect `stated` ~ 0) |
| noisy_verifier | same env with its `correct` component flipped at FP 0.2 / FN 0.1 (success stays clean) | clean success rate |
| otc | beam-statics-v0 (tool `check`) | tool calls per episode (a random tiny model makes none: expect 0) |

The machine load (`os.getloadavg`) is printed with the table: on a shared machine compare columns of the same
run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

COPY = {"id": "copy-digits-v0", "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8, "answer_tags": False, "weights": {"format": 0.2, "numeric": 0.1, "digits": 1.0, "correct": 1.0}}}
NOISY_ENV = "noisy-copy-digits-v0"
EVEN_ENV = "even-reply-v0"
# copy-digits prompts judged correct when the reply has an even number of characters: a random policy is right
# about half the time from step 1, so length shaping has correct replies to compress without a trained model
EVEN = {"id": EVEN_ENV, "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8, "answer_tags": False}}
# method -> (env section, shaping section with the method on, the same with the method at weight 0, metric key)
METHODS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]] = {
    "hapo": (EVEN, {"hapo": {"weight": 1.0}}, {"hapo": {"weight": 0.0}}, "shaping/hapo/correct_length"),
    "length_budget": (
        EVEN,
        {"length_budget": {"initial": 6, "final": 1, "decay": 0.5, "interval": 5, "weight": 1.0}},
        {"length_budget": {"initial": 6, "final": 1, "decay": 0.5, "interval": 5, "weight": 0.0}},
        "shaping/length_budget/correct_length",
    ),
    "rlcr": (COPY, {"rlcr": {"weight": 1.0, "missing_penalty": 0.0}}, {"rlcr": {"weight": 0.0}}, "shaping/rlcr/brier"),
    "noisy_verifier": (
        {"id": NOISY_ENV, "kwargs": COPY["kwargs"]},
        {"noisy_verifier": {"fp_rate": 0.2, "fn_rate": 0.1}},
        {"noisy_verifier": {"fp_rate": 0.0, "fn_rate": 0.0}},
        "success_rate",
    ),
    "otc": ({"id": "beam-statics-v0", "kwargs": {}}, {"otc": {"weight": 1.0}}, {"otc": {"weight": 0.0}}, "shaping/otc/tool_calls"),
}


def register_even_env() -> None:
    """`even-reply-v0` (see EVEN)."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class EvenReply(CopyDigitsEnv):
        env_id = EVEN_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            ok = len(action) % 2 == 0
            components = {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": float(ok)}
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(ok, float(ok), components))

    if EVEN_ENV not in get_registry().envs.names():
        register_env(EVEN_ENV, EvenReply)


def register_noisy_env(fp: float = 0.2, fn: float = 0.1) -> None:
    """copy-digits whose `correct` component is flipped at rates (fp, fn), seeded per episode; `passed` (the
    success rate) stays the clean outcome, so the table can report clean success."""
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class NoisyCopy(CopyDigitsEnv):
        env_id = NOISY_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            result = super().on_turn(action)
            if result.verdict is not None:
                v = result.verdict
                rng = random.Random(zlib.crc32(f"{self.task.seed}:{action}".encode()))  # type: ignore[union-attr]
                flip = rng.random() < (fn if v.passed else fp)
                comps = dict(v.components)
                comps["correct"] = float(v.passed) if not flip else 1.0 - float(v.passed)
                result.verdict = Verdict(v.passed, v.score, comps, v.details)
            return result

    if NOISY_ENV not in get_registry().envs.names():
        register_env(NOISY_ENV, NoisyCopy)


def build_config(method: str, shaping: dict[str, Any], env: dict[str, Any], args: argparse.Namespace, model: str, run_dir: str) -> Any:
    """The validated `TrainerConfig` of one benchmark run."""
    from verigym.trainer.config import TrainerConfig, from_dict

    return from_dict(TrainerConfig, {
        "run_dir": run_dir, "seed": args.seed, "max_steps": args.steps, "model": {"path": model},
        "env": env,
        "rollout": {"engine": args.engine, "groups_per_step": args.groups, "group_size": args.group_size, "max_tokens": args.max_tokens,
                    "stop": [x for x in args.stop.split(",") if x], "max_model_len": 128},
        "algorithm": {"advantage": "dr_grpo"},
        "loss": {"entropy_coef": 0.02},
        "shaping": {"methods": [method], **shaping},
        "optim": {"lr": 1e-3, "micro_batch_size": 128},
        "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }).validate()


def run(method: str, shaping: dict[str, Any], env: dict[str, Any], args: argparse.Namespace, model: str) -> tuple[list[dict], float]:
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    run_dir = tempfile.mkdtemp(prefix=f"bench-shaping-{method}-")
    cfg = build_config(method, shaping, env, args, model, run_dir)
    start = time.perf_counter()
    Trainer(cfg, resume=False).fit()
    return [r for r in read_metrics(run_dir) if "final" not in r and "reward/mean" in r], time.perf_counter() - start


def window(rows: list[dict], key: str, first: bool) -> float:
    k = max(len(rows) // 4, 1)
    part = rows[:k] if first else rows[-k:]
    values = [r[key] for r in part if r.get(key) is not None]
    return sum(values) / len(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=6)
    parser.add_argument("--engine", default="hf")
    # a random tiny model almost never samples EOS within a few tokens, so every reply would be max-tokens long and
    # length shaping would have nothing to compare; stopping at a common character gives replies of 1..max tokens
    parser.add_argument("--stop", default="e,t", help="comma-separated stop strings ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="", help="start from this HF model dir instead of a random tiny model")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "verigym-bench-shaping-model"))
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")

    from verigym.agents.tiny_model import build_tiny_model

    model = args.model or args.model_dir
    if not args.model and not Path(args.model_dir, "config.json").is_file():
        build_tiny_model(args.model_dir, layers=2, hidden=128, heads=2, kv_heads=2, seed=0, init_std=0.02)
    register_noisy_env()
    register_even_env()
    rows = []
    for method in methods:
        env, on, off, metric = METHODS[method]
        for label, shaping in (("without", off), ("with", on)):
            print(f"{method}: {label} ({args.steps} steps)...", file=sys.stderr, flush=True)
            metrics, wall = run(method, shaping, env, args, model)
            rows.append((method, label, metric, window(metrics, metric, True), window(metrics, metric, False), window(metrics, "tokens/completion_mean", False), window(metrics, "success_rate", False), wall))
    load = os.getloadavg()
    print(f"\n{args.steps} steps x {args.groups} x {args.group_size} episodes, engine {args.engine}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print(f"model: {model}, stop strings: {args.stop!r}")
    print("| method | run | metric | first quarter | last quarter | completion tokens (last q.) | success (last q.) | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for method, label, metric, first, last, tokens, success, wall in rows:
        print(f"| {method} | {label} | `{metric}` | {first:.3f} | {last:.3f} | {tokens:.2f} | {success:.3f} | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
