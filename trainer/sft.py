"""`verigym sft CONFIG.toml`: supervised fine-tuning on episode Parquet files (oracle play, or any policy's
episodes filtered by reward: rejection-sampling fine-tuning / expert iteration).

The training sequences are the records' own `token_ids`, and the loss covers exactly the tokens whose
`loss_mask` is 1 (what the policy produced), the same ids and masks an RL update would use; nothing is
re-tokenised. Episodes are split into train and held-out by task group (no task in both), batched by length
(similar lengths together, batch order shuffled per epoch), and the result is a Hugging Face model directory
(`RUN_DIR/final-model`, LoRA merged) that `verigym train` (`model.path`) and every policy can load.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verigym.agents.records import EpisodeRecord, read_episodes
from verigym.trainer.config import LogConfig, ModelConfig, OptimConfig, from_dict, read_toml

SFT_DEFAULT_LR = 1e-4


@dataclass
class SFTDataConfig:
    """Which episodes to learn from. `files` are episode Parquet files (globs allowed). Dropped episodes and
    episodes without token ids are always skipped; `min_reward` keeps only episodes whose total reward is
    at least that (None: all); `only_success` keeps only successful ones. `eval_fraction` of the task groups
    is held out for the eval loss; `max_tokens` skips longer episodes (they would not fit the model)."""

    files: list[str] = field(default_factory=list)
    min_reward: float | None = None
    only_success: bool = False
    eval_fraction: float = 0.1
    max_tokens: int = 4096


@dataclass
class SFTRunConfig:
    """Length of training: `epochs` passes over the train split, or `max_steps` optimizer steps if set
    (whichever ends first); `batch_size` sequences per optimizer step (sequences of similar length).
    `torch_threads` sets torch's intra-op threads (None: torch's default). On a CPU box shared with other
    jobs, 1 thread ran a tiny model's step 10x faster than the default 2 (measured 0.4 s vs 2-6 s)."""

    epochs: int = 1
    torch_threads: int | None = None
    max_steps: int | None = None
    batch_size: int = 16
    eval_every: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 1


@dataclass
class SFTConfig:
    """A whole SFT run. `model` is read exactly as `verigym train` reads it (a tiny model can be built on
    the fly); `optim` uses the trainer's AdamW/schedule keys (`micro_batch_size`, `mini_batches` and
    `epochs` there are unused: see [train])."""

    run_dir: str = "runs/sft"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    train: SFTRunConfig = field(default_factory=SFTRunConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=SFT_DEFAULT_LR))
    log: LogConfig = field(default_factory=lambda: LogConfig(tensorboard=False))

    def validate(self) -> SFTConfig:
        """Check sizes and choices; raises ValueError naming the key."""
        checks = [
            (0.0 <= self.data.eval_fraction < 1.0, f"data.eval_fraction must be in [0, 1), got {self.data.eval_fraction}"),
            (self.train.batch_size >= 1, f"train.batch_size must be >= 1, got {self.train.batch_size}"),
            (self.train.epochs >= 1, f"train.epochs must be >= 1, got {self.train.epochs}"),
            (self.train.max_steps is None or self.train.max_steps >= 0, f"train.max_steps must be >= 0, got {self.train.max_steps}"),
            (self.optim.schedule in ("constant", "linear", "cosine"), f"optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}"),
            (self.data.max_tokens >= 2, f"data.max_tokens must be >= 2, got {self.data.max_tokens}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"sft config: {message}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sft_config_from_dict(data: dict[str, Any]) -> SFTConfig:
    """An `SFTConfig` from nested dicts (a TOML table); unknown keys are refused with the known ones listed."""
    data = dict(data)
    optim = data.pop("optim", {})
    cfg = from_dict(SFTConfig, data)
    cfg.optim = from_dict(OptimConfig, {"lr": SFT_DEFAULT_LR, **optim}, "optim")
    return cfg.validate()


def load_sft_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SFTConfig:
    """Read a TOML file into a validated `SFTConfig`; `overrides` maps dotted keys to values."""
    return sft_config_from_dict(read_toml(path, overrides))


# ---------------------------------------------------------------------------------------------- data


@dataclass
class SFTExample:
    """One training sequence: the record's token ids and loss mask, and the task group it belongs to."""

    token_ids: list[int]
    loss_mask: list[int]
    group: int


@dataclass
class SFTData:
    """The train and held-out examples and what was skipped (counts by reason)."""

    train: list[SFTExample]
    held_out: list[SFTExample]
    skipped: dict[str, int]


def select_records(records: Sequence[EpisodeRecord], data: SFTDataConfig) -> tuple[list[EpisodeRecord], dict[str, int]]:
    """The records worth imitating under `data`'s filters, and how many each filter removed."""
    skipped = {"dropped": 0, "no_tokens": 0, "reward": 0, "failed": 0, "too_long": 0}
    kept = []
    for r in records:
        if r.dropped:
            skipped["dropped"] += 1
        elif not r.token_ids or not r.loss_mask or not any(r.loss_mask):
            skipped["no_tokens"] += 1
        elif data.min_reward is not None and r.total_reward < data.min_reward:
            skipped["reward"] += 1
        elif data.only_success and not r.success:
            skipped["failed"] += 1
        elif len(r.token_ids) > data.max_tokens:
            skipped["too_long"] += 1
        else:
            kept.append(r)
    return kept, skipped


def is_held_out(group: int, fraction: float, seed: int) -> bool:
    """Whether a task group belongs to the held-out split (a pure function of group and seed)."""
    return fraction > 0 and random.Random(f"sft-split/{seed}/{group}").random() < fraction


def load_sft_data(data: SFTDataConfig, seed: int = 0) -> SFTData:
    """Read `data.files`, filter, and split by task group. Raises FileNotFoundError / ValueError saying what
    to do when no file matches or no episode is left."""
    paths = expand_files(data.files)
    records = [r for p in paths for r in read_episodes(p)]
    kept, skipped = select_records(records, data)
    if not kept:
        raise ValueError(
            f"no episode to learn from in {[str(p) for p in paths]} ({len(records)} read, skipped: {skipped}); "
            "write episodes with token ids (`verigym run ENV --agent oracle --tokenizer MODEL_DIR --out FILE`) "
            "or lower data.min_reward"
        )
    train, held = [], []
    for r in kept:
        mask = [int(m) for m in r.loss_mask or []]
        end = max(i for i, m in enumerate(mask) if m) + 1  # the env's closing observation is never forwarded
        ex = SFTExample(list(r.token_ids or [])[:end], mask[:end], int(r.group if r.group is not None else r.seed))
        (held if is_held_out(ex.group, data.eval_fraction, seed) else train).append(ex)
    if not train:
        raise ValueError(f"all {len(kept)} episodes fell in the held-out split; lower data.eval_fraction")
    return SFTData(train, held, skipped)


def expand_files(patterns: Sequence[str]) -> list[Path]:
    """Files named by `patterns` (paths or globs), in order; raises FileNotFoundError if one matches nothing."""
    import glob

    if not patterns:
        raise ValueError("sft: data.files is empty; name episode Parquet files (e.g. --data runs/oracle.parquet)")
    out: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else ([pattern] if Path(pattern).is_file() else [])
        if not matches:
            raise FileNotFoundError(f"sft: no episode file matches {pattern!r}")
        out += [Path(m) for m in matches]
    return out


def length_batches(examples: Sequence[SFTExample], batch_size: int, rng: random.Random | None = None) -> list[list[int]]:
    """Indices of `examples` in batches of `batch_size` similar lengths (sorted by length, then cut); the
    batch order is shuffled when `rng` is given. Padding waste is at most the length spread inside a batch."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].token_ids), i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def collate(examples: Sequence[SFTExample], pad_id: int):  # -> (input_ids, attention_mask, loss_mask)
    """Right-padded [B, L] tensors: token ids, attention mask and the float loss mask (1 on policy tokens)."""
    import torch

    length = max(len(e.token_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    attn = torch.zeros((len(examples), length), dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.float32)
    for i, e in enumerate(examples):
        n = len(e.token_ids)
        ids[i, :n] = torch.tensor(e.token_ids, dtype=torch.long)
        attn[i, :n] = 1
        mask[i, :n] = torch.tensor(e.loss_mask, dtype=torch.float32)
    mask[:, 0] = 0.0  # position 0 has no prefix to predict it from
    return ids, attn, mask


def sft_loss(model: Any, input_ids: Any, attention_mask: Any, loss_mask: Any, chunk_mib: float = 64.0) -> tuple[Any, int]:
    """Mean negative log-likelihood over the policy tokens of the batch (token-mean), and their count.

    Only positions with `loss_mask` 1 reach the LM head (`sequence_logprobs`), so observation and prompt
    tokens contribute neither loss nor gradient."""
    from verigym.trainer.logprobs import sequence_logprobs

    logprobs, _ = sequence_logprobs(model, input_ids, attention_mask, loss_mask, chunk_mib=chunk_mib)
    n = int(loss_mask.sum().item())
    return -(logprobs * loss_mask).sum() / max(n, 1), n


# ---------------------------------------------------------------------------------------------- training


def evaluate_loss(model: Any, examples: Sequence[SFTExample], batch_size: int, pad_id: int, device: Any, chunk_mib: float) -> float:
    """Token-mean NLL of `examples` (nan when there are none)."""
    import torch

    if not examples:
        return float("nan")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in length_batches(examples, batch_size):
            ids, attn, mask = (t.to(device) for t in collate([examples[i] for i in batch], pad_id))
            loss, n = sft_loss(model, ids, attn, mask, chunk_mib)
            total += float(loss) * n
            count += n
    model.train(was_training)
    return total / max(count, 1)


def run_sft(cfg: SFTConfig) -> dict[str, Any]:
    """Fine-tune `cfg.model` on `cfg.data`; writes RUN_DIR/metrics.jsonl, checkpoints and RUN_DIR/final-model.

    Returns {"final_model", "steps", "train_examples", "held_out_examples", "skipped", "eval_loss_before",
    "eval_loss_after", "seconds"}. A rerun starts over (SFT runs are short; no resume)."""
    import torch

    cfg.validate()
    threads = torch.get_num_threads()
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    try:
        return _run_sft(cfg)
    finally:
        torch.set_num_threads(threads)  # the process's setting is the caller's again


def _run_sft(cfg: SFTConfig) -> dict[str, Any]:
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from verigym.trainer.loop import seed_everything
    from verigym.trainer.metrics import MetricsLogger
    from verigym.trainer.model import ensure_model, load_policy_model, resolve_device, resolve_dtype
    from verigym.trainer.update import build_optimizer

    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str))
    seed_everything(cfg.seed)
    data = load_sft_data(cfg.data, cfg.seed)
    device = resolve_device(cfg.model.device)
    dtype = resolve_dtype(cfg.model.dtype, device)
    model_path = ensure_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model = load_policy_model(cfg.model, device, dtype)
    vocab = model.get_input_embeddings().num_embeddings
    too_big = max(max(e.token_ids) for e in data.train + data.held_out)
    if too_big >= vocab:
        raise ValueError(f"episode token id {too_big} is outside the model's vocabulary ({vocab}); the episodes were tokenized for another model")

    rng = random.Random(cfg.seed)
    per_epoch = math.ceil(len(data.train) / cfg.train.batch_size)
    total = per_epoch * cfg.train.epochs
    if cfg.train.max_steps is not None:
        total = min(total, cfg.train.max_steps)
    optimizer, scheduler = build_optimizer(model, cfg.optim, max(total, 1))
    logger = MetricsLogger(run_dir, tensorboard=cfg.log.tensorboard)
    chunk = cfg.optim.logits_chunk_mib
    bs = cfg.train.batch_size
    before = evaluate_loss(model, data.held_out, bs, pad_id, device, chunk)
    logger.log(0, {"eval/loss": before, "data/train_examples": len(data.train), "data/held_out_examples": len(data.held_out)})
    print(
        f"sft: {len(data.train)} train / {len(data.held_out)} held-out episodes (skipped {data.skipped}), "
        f"{total} steps; held-out loss {before:.4f}",
        file=sys.stderr,
    )
    bar = tqdm(total=total, desc="sft", unit="step", disable=not cfg.log.progress, dynamic_ncols=True)
    step = 0
    model.train()
    try:
        while step < total:
            for batch in length_batches(data.train, bs, rng):
                if step >= total:
                    break
                t0 = time.perf_counter()
                ids, attn, mask = (t.to(device) for t in collate([data.train[i] for i in batch], pad_id))
                loss, n = sft_loss(model, ids, attn, mask, chunk)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.optim.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                seconds = time.perf_counter() - t0
                metrics = {
                    "loss/sft": float(loss.detach()),
                    "grad_norm": float(grad_norm),
                    "lr": scheduler.get_last_lr()[0],
                    "tokens/policy": float(n),
                    "tokens/step": float(attn.sum()),
                    "tokens_per_s": float(attn.sum()) / max(seconds, 1e-9),
                    "time/step": seconds,
                }
                if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step < total:
                    metrics["eval/loss"] = evaluate_loss(model, data.held_out, bs, pad_id, device, chunk)
                logger.log(step, metrics)
                bar.update()
                bar.set_postfix(loss=f"{metrics['loss/sft']:.3f}", refresh=False)
                if cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0 and step < total:
                    save_hf_model(model, tokenizer, run_dir / "checkpoints" / f"step-{step:06d}")
                    _prune(run_dir / "checkpoints", cfg.train.keep_checkpoints)
        bar.close()
        after = evaluate_loss(model, data.held_out, bs, pad_id, device, chunk)
        logger.log(step, {"eval/loss": after, "final": 1})
    finally:
        logger.close()
    final = save_hf_model(model, tokenizer, run_dir / "final-model")
    print(f"sft: {step} steps, held-out loss {before:.4f} -> {after:.4f}; model written to {final}", file=sys.stderr)
    if cfg.log.plot_at_end:
        from verigym.trainer.plot import plot_run

        for path in plot_run(run_dir):
            print(f"wrote {path}", file=sys.stderr)
    return {
        "final_model": str(final),
        "steps": step,
        "train_examples": len(data.train),
        "held_out_examples": len(data.held_out),
        "skipped": data.skipped,
        "eval_loss_before": before,
        "eval_loss_after": after,
        "seconds": time.perf_counter() - start,
    }


def save_hf_model(model: Any, tokenizer: Any, out: Path) -> Path:
    """Write model (LoRA merged into a copy) + tokenizer as a Hugging Face directory, atomically."""
    from verigym.trainer.model import is_lora

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if is_lora(model):
            import copy

            copy.deepcopy(model).merge_and_unload().save_pretrained(tmp, safe_serialization=True)
        else:
            model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _prune(folder: Path, keep: int) -> None:
    steps = sorted(p for p in folder.glob("step-*") if p.is_dir())
    for old in steps[: max(len(steps) - max(keep, 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "SFTConfig",
    "SFTDataConfig",
    "SFTRunConfig",
    "collate",
    "length_batches",
    "load_sft_config",
    "load_sft_data",
    "run_sft",
    "select_records",
    "sft_config_from_dict",
    "sft_loss",
]
