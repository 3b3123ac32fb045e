"""One GRPO step of verigym's trainer vs one step of TRL's `GRPOTrainer`, same model, env, batch and sampling.

    python benchmarks/trainer_vs_trl.py [--groups 8 --group-size 8 --max-tokens 8 --steps 3 --engines hf,vllm]

Each contender runs in its own subprocess (so peak memory is its own): `--warmup` untimed steps, then
`--steps` timed ones; the table shows the median step wall time, the ratio to TRL (target <= 1.0), peak
memory (max RSS on CPU, max allocated on CUDA) and our time split per phase. Both sides: no reference model
(beta 0), token-mean loss, one optimizer step per generation batch, no gradient checkpointing, fp32 on CPU.
TRL generates with transformers (`use_vllm=False`); ours with each engine listed in `--engines`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_ID = "copy-digits-v0"
ENV_KWARGS = {"min_len": 3, "max_len": 3}


def peak_memory_mib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(args: argparse.Namespace, engine: str) -> dict:
    from verigym.trainer.config import TrainerConfig, from_dict
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    run_dir = tempfile.mkdtemp(prefix=f"bench-ours-{engine}-")
    cfg = from_dict(TrainerConfig, {
        "run_dir": run_dir, "seed": 0, "max_steps": args.warmup + args.steps,
        "model": {"path": args.model},
        "env": {"id": ENV_ID, "kwargs": ENV_KWARGS},
        "rollout": {"engine": engine, "groups_per_step": args.groups, "group_size": args.group_size,
                    "max_tokens": args.max_tokens, "temperature": 1.0, "max_model_len": 256},
        "loss": {"aggregation": "token-mean", "tis_cap": 2.0},
        "optim": {"lr": 1e-5, "micro_batch_size": args.groups * args.group_size},
        "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    })
    Trainer(cfg).fit()
    timed = [r for r in read_metrics(run_dir) if r["step"] > args.warmup]
    split = {k: statistics.median(r[k] for r in timed) for k in ("time/generation", "time/environment", "time/update", "time/weight_sync")}
    return {"name": f"verigym ({engine})", "step_s": statistics.median(r["time/step"] for r in timed), "peak_mib": peak_memory_mib(), "split": split}


def run_trl(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from verigym.plugins.registry import make

    env = make(ENV_ID, **ENV_KWARGS)
    n_prompts = args.groups * (args.warmup + args.steps)
    rows = []
    for seed in range(n_prompts):
        messages, _ = env.reset(seed=seed)
        rows.append({"prompt": messages, "seed": seed})

    def env_reward(prompts, completions, seed, **_):
        out = []
        for completion, s in zip(completions, seed):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            e = make(ENV_ID, **ENV_KWARGS)
            e.reset(seed=int(s))
            out.append(float(e.step(text)[1]))
        return out

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self._t = [], 0.0

        def on_step_begin(self, *a, **k):
            self._t = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self._t)

    cuda = torch.cuda.is_available()
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"), per_device_train_batch_size=args.groups * args.group_size,
        num_generations=args.group_size, max_completion_length=args.max_tokens, temperature=1.0, top_k=0, top_p=1.0,
        learning_rate=1e-5, beta=0.0, loss_type="dapo", max_steps=args.warmup + args.steps, logging_steps=1,
        report_to="none", use_cpu=not cuda, bf16=cuda, gradient_checkpointing=False, save_strategy="no",
        shuffle_dataset=False, use_vllm=False, seed=0,
    )
    timer = StepTimer()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    trainer = GRPOTrainer(model=args.model, reward_funcs=env_reward, args=config, train_dataset=Dataset.from_list(rows),
                          processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return {"name": "TRL GRPOTrainer (transformers)", "step_s": statistics.median(timer.times[args.warmup:]), "peak_mib": peak_memory_mib(), "split": {}}


def table(results: list[dict]) -> str:
    trl = next((r for r in results if r["name"].startswith("TRL")), None)
    head = f"{'trainer':<32} {'step s':>8} {'vs TRL':>7} {'peak MiB':>9}  {'gen s':>6} {'env s':>6} {'upd s':>6} {'sync s':>6}"
    lines = [head, "-" * len(head)]
    for r in results:
        ratio = f"{r['step_s'] / trl['step_s']:.2f}" if trl else "-"
        s = r["split"]
        cols = [f"{s[k]:.3f}" if k in s else "-" for k in ("time/generation", "time/environment", "time/update", "time/weight_sync")]
        lines.append(f"{r['name']:<32} {r['step_s']:>8.3f} {ratio:>7} {r['peak_mib']:>9.0f}  " + " ".join(f"{c:>6}" for c in cols))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="runs/bench-model", help="model dir (the random tiny model is built there if missing)")
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--engines", default="hf,vllm", help="our rollout engines to measure")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        result = run_trl(args) if args.worker == "trl" else run_ours(args, args.worker)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    if not (Path(args.model) / "config.json").is_file():
        from verigym.agents.tiny_model import build_tiny_model

        build_tiny_model(args.model)
    results = []
    for worker in ["trl", *[e for e in args.engines.split(",") if e]]:
        cmd = [sys.executable, __file__, "--worker", worker, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not found:
            print(f"{worker}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        results.append(json.loads(found[-1]))
    print(f"\none GRPO step: {args.groups} prompts x {args.group_size} samples, <= {args.max_tokens} new tokens, env {ENV_ID}; "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    print(table(results))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
