"""One GRPO step of verigym's trainer vs one step of TRL's `GRPOTrainer`, same model, env, batch and sampling.

    pip install 'verigym[bench]'     # trl and datasets (TRL is only the baseline)
    python benchmarks/trainer_vs_trl.py [--sizes 0.6M,25M,100M --groups 8 --group-size 8 --max-tokens 8
                                         --steps 3 --engines hf,vllm:bfloat16,vllm]

For each model size (random tiny Qwen2 models built locally: 0.6M = 2 layers x 128, 25M = 6 x 512,
100M = 6 x 1024) each contender runs in its own subprocess (so peak memory is its own): `--warmup` untimed
steps, then `--steps` timed ones; the table shows the median step wall time, the ratio to TRL measured in
the same run (targets: hf <= 0.8, vllm <= 0.6), peak memory (max RSS on CPU, max allocated on CUDA) and
our time split per phase. Both sides: no reference model (beta 0), token-mean loss, one optimizer step per
generation batch, no gradient checkpointing, fp32 training on CPU. TRL generates with transformers
(`use_vllm=False`, with the fp32 model it trains); ours with each engine listed in `--engines`, written
`ENGINE[:ROLLOUT_DTYPE]`: `vllm:bfloat16` samples from a bf16 copy of the fp32 policy (`rollout.dtype`, as
verl and OpenRLHF run vLLM; the loss's truncated importance weights correct the gap, shown as `mismatch/kl`). The machine load (`os.getloadavg`) is
printed with the table: on a shared machine, compare ratios, not seconds.
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
# name -> build_tiny_model shape (head_dim 64, as vLLM's CPU attention needs)
SIZES = {
    "0.6M": {"layers": 2, "hidden": 128, "heads": 2, "kv_heads": 2},
    "25M": {"layers": 6, "hidden": 512, "heads": 8, "kv_heads": 8},
    "100M": {"layers": 6, "hidden": 1024, "heads": 16, "kv_heads": 16},
}


def peak_memory_mib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(args: argparse.Namespace, spec: str) -> dict:
    from verigym.trainer.config import TrainerConfig, from_dict
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    engine, _, rollout_dtype = spec.partition(":")
    run_dir = tempfile.mkdtemp(prefix=f"bench-ours-{engine}-")
    cfg = from_dict(TrainerConfig, {
        "run_dir": run_dir, "seed": 0, "max_steps": args.warmup + args.steps,
        "model": {"path": args.model},
        "env": {"id": ENV_ID, "kwargs": ENV_KWARGS},
        "rollout": {"engine": engine, "groups_per_step": args.groups, "group_size": args.group_size,
                    "max_tokens": args.max_tokens, "temperature": 1.0, "max_model_len": 256, "dtype": rollout_dtype or "auto"},
        "loss": {"aggregation": "token-mean", "tis_cap": 2.0},
        "optim": {"lr": 1e-5, "micro_batch_size": args.groups * args.group_size},
        "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    })
    Trainer(cfg).fit()
    timed = [r for r in read_metrics(run_dir) if r["step"] > args.warmup]
    split = {k: statistics.median(r[k] for r in timed) for k in ("time/generation", "time/environment", "time/update", "time/weight_sync", "mismatch/kl_k3") if k in timed[0]}
    name = f"verigym ({engine} engine{', ' + rollout_dtype + ' rollouts' if rollout_dtype else ''})"
    return {"name": name, "step_s": statistics.median(r["time/step"] for r in timed), "peak_mib": peak_memory_mib(), "split": split}


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
    """A markdown table: one row per (size, contender), ratios against TRL of the same size."""
    head = "| model | params | trainer | step s | vs TRL | peak MiB | gen s | env s | update s | sync s | rollout KL |"
    lines = [head, "|---" * 11 + "|"]
    for r in results:
        trl = next((x for x in results if x["size"] == r["size"] and x["name"].startswith("TRL")), None)
        ratio = f"{r['step_s'] / trl['step_s']:.2f}" if trl else "-"
        s = r["split"]
        cols = [f"{s[k]:.3f}" if k in s else "-" for k in ("time/generation", "time/environment", "time/update", "time/weight_sync")]
        cols.append(f"{s['mismatch/kl_k3']:.1e}" if "mismatch/kl_k3" in s else "-")
        lines.append(f"| {r['size']} | {r.get('params', '-')} | {r['name']} | {r['step_s']:.3f} | {ratio} | {r['peak_mib']:.0f} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def count_params(model_dir: Path) -> str:
    import json as _json

    cfg = _json.loads((model_dir / "config.json").read_text())
    h, n, v, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    per_layer = h * h * 2 + 2 * h * kv + 3 * h * inter + 2 * h
    return f"{(per_layer * n + v * h) / 1e6:.1f}M"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-root", default="runs/bench-models", help="where the random tiny models are built (one folder per size)")
    p.add_argument("--sizes", default="0.6M,25M,100M", help=f"model sizes to run, of {list(SIZES)}")
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--engines", default="hf,vllm:bfloat16,vllm", help="our rollout engines to measure, each ENGINE[:ROLLOUT_DTYPE]")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.worker:
        result = run_trl(args) if args.worker == "trl" else run_ours(args, args.worker)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        p.error(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
    from verigym.agents.tiny_model import build_tiny_model

    results = []
    loads = [os.getloadavg()[0]]
    for size in sizes:
        model = Path(args.model_root) / size
        if not (model / "config.json").is_file():
            build_tiny_model(model, **SIZES[size])
        for worker in ["trl", *[e for e in args.engines.split(",") if e]]:
            cmd = [sys.executable, __file__, "--worker", worker, "--model", str(model), *_passthrough(sys.argv[1:])]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            found = [line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            loads.append(os.getloadavg()[0])
            if proc.returncode != 0 or not found:
                print(f"{size} {worker}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}", file=sys.stderr)
                continue
            result = json.loads(found[-1])
            result.update(size=size, params=count_params(model))
            results.append(result)
            print(f"{size} {result['name']}: {result['step_s']:.3f} s/step ({time.perf_counter() - start:.0f} s wall)", file=sys.stderr, flush=True)
    print(f"\none GRPO step: {args.groups} prompts x {args.group_size} samples, <= {args.max_tokens} new tokens, env {ENV_ID}; "
          f"median of {args.steps} steps after {args.warmup} warm-up; {os.cpu_count()} CPUs, "
          f"1-min load average during the run {min(loads):.1f}-{max(loads):.1f}")
    print(table(results))
    return 0 if results else 1


def _passthrough(argv: list[str]) -> list[str]:
    """The command line minus the options only the parent uses (each subprocess gets one --model)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--sizes", "--model-root", "--model"):
            skip = True
            continue
        if arg.startswith(("--sizes=", "--model-root=", "--model=")):
            continue
        out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
