"""`Trainer(config).fit()`: collect grouped episodes, compute advantages, update, push weights, repeat.

One step: (1) the rollout engine plays `groups_per_step x group_size` episodes (dynamic sampling refills
zero-variance groups); (2) dropped episodes are counted and skipped; advantages are computed per turn and
broadcast onto policy tokens; (3) micro-batched updates with gradient accumulation; (4) the new weights are
pushed into the engine; (5) metrics are logged, and a checkpoint is written when due.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from verigym.agents.collect import env_step_threads
from verigym.agents.records import DROP_REASONS, EpisodeRecord
from verigym.plugins.registry import make
from verigym.trainer.advantages import AdvantageConfig
from verigym.trainer.batch import advantage_inputs, build_batch
from verigym.trainer.checkpoint import TrainerState, latest_checkpoint, save_checkpoint
from verigym.trainer.config import TrainerConfig
from verigym.trainer.distributed import RankGroup, init_distributed, shard_model, shutdown
from verigym.trainer.logprobs import policy_temperature
from verigym.trainer.metrics import MetricsLogger
from verigym.trainer.model import ensure_model, load_policy_model, load_reference_model, resolve_device, resolve_dtype
from verigym.trainer.rollout import RolloutEngine
from verigym.trainer.shaping import RewardShaping
from verigym.trainer.shaping.canon import canon_metrics
from verigym.trainer.update import build_optimizer


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def episode_metrics(records: list[EpisodeRecord], component_names: list[str]) -> dict[str, float]:
    """Reward, each component, success rate, turns and lengths over the scored episodes."""
    scored = [r for r in records if not r.dropped]
    n = max(len(scored), 1)
    rewards = [r.total_reward for r in scored]
    out = {
        "reward/mean": sum(rewards) / n,
        "reward/std": float(np.std(rewards)) if rewards else 0.0,
        "success_rate": sum(r.success for r in scored) / n,
        "episodes": float(len(records)),
        "episodes/dropped": float(len(records) - len(scored)),
        **{f"episodes/dropped/{reason}": float(sum(r.drop_reason == reason for r in records if r.dropped)) for reason in DROP_REASONS},
        "turns/mean": sum(r.turns for r in scored) / n,
        "tokens/completion_mean": sum(sum(r.loss_mask or []) for r in scored) / n,
    }
    for name in component_names:
        out[f"reward/{name}"] = sum(r.components.get(name, 0.0) for r in scored) / n
    return out


class Trainer:
    """Trains `config.model` on `config.env.id`. `fit()` resumes from the run's latest checkpoint if any."""

    def __init__(self, config: TrainerConfig, *, resume: bool = True, stop_after: int | None = None) -> None:
        self.cfg = config.validate()
        self.run_dir = Path(config.run_dir)
        self.resume = resume
        self.stop_after = stop_after  # stop (as if killed) after this step; for tests and manual restarts
        probe = make(config.env.id, **config.env.kwargs)  # the rubric is read once per run, here
        try:
            self.component_names = list(probe.rubric.names)
            self.component_weights = dict(probe.rubric.weights)
            r = config.rollout  # envs on Ray actors are remote calls: threads, whatever the env
            self.env_workers = env_step_threads(probe if r.backend == "local" else None, r.concurrency, r.schedule)
        finally:
            probe.close()
        self.shaping = RewardShaping(config.shaping, self.component_weights)  # off unless `shaping.methods`

    def fit(self) -> dict[str, Any]:
        """Train to `max_steps`; returns the final trainer state and evaluations as a dict. Under torchrun
        (`trainer/distributed.py`) rank 0 drives the run and the other ranks follow it."""
        self.ranks: RankGroup | None = None
        try:
            return self._fit()
        finally:
            if self.ranks is not None:
                self.ranks.stop()
                shutdown(self.ranks.ctx)

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.seed)
        device = resolve_device(cfg.model.device)
        ctx, device = init_distributed(device)  # torchrun: join the job (cuda:LOCAL_RANK); else a no-op
        dtype = resolve_dtype(cfg.model.dtype, device)
        model_path = ensure_model(cfg.model)
        model = shard_model(load_policy_model(cfg.model, device, dtype), ctx)  # FSDP2 under torchrun
        total_opt_steps = max(cfg.max_steps * cfg.optim.mini_batches * cfg.optim.epochs, 1)
        optimizer, scheduler = build_optimizer(model, cfg.optim, total_opt_steps)
        ref_model = load_reference_model(cfg.model, device, dtype) if cfg.loss.kl_coef > 0 else None

        self.ranks = RankGroup(ctx, model, optimizer, scheduler, device, ref_model)
        state = TrainerState(next_seed=cfg.env.seed_start, world_size=ctx.world_size)
        ckpt = ctx.broadcast(latest_checkpoint(self.run_dir) if self.resume else None)
        if ckpt is not None:
            state = self.ranks.load_checkpoint(ckpt)
            self.shaping.load_state_dict(state.shaping)
            print(f"resumed from {ckpt} (step {state.step})", file=sys.stderr)
        elif self.resume is False and ctx.is_main and (self.run_dir / "checkpoints").exists():
            shutil.rmtree(self.run_dir / "checkpoints")
        if not ctx.is_main:  # torchrun ranks > 0 only take part in updates, weight gathers and checkpoints
            self.ranks.follow()
            return asdict(state)
        (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str))

        engine = RolloutEngine(cfg, model_path, model, device, dtype, self.component_names, share_module=not ctx.enabled, env_workers=self.env_workers)
        if ckpt is not None:
            engine.sync(self.ranks.weights())
        logger = MetricsLogger(self.run_dir, tensorboard=cfg.log.tensorboard, resume_step=state.step if ckpt else None)
        a = cfg.algorithm
        adv_cfg = AdvantageConfig(a.advantage, a.eps, a.gamma, a.process_coef, a.canon_metric, a.canon_mu)
        pad_id = engine.policy.tokenizer.pad_token_id or 0
        try:
            if cfg.eval.at_start and state.step == 0 and cfg.eval.episodes > 0:
                state.evals["before"] = engine.evaluate(cfg.eval.episodes, cfg.eval.seed_start)["eval/success"]
                logger.log(0, {"eval/success": state.evals["before"]})
                print(f"greedy success before training: {state.evals['before']:.3f} ({cfg.eval.episodes} held-out seeds)", file=sys.stderr)
            bar = tqdm(total=cfg.max_steps, initial=state.step, desc="train", unit="step", disable=not cfg.log.progress, dynamic_ncols=True)
            while state.step < cfg.max_steps:
                step = state.step + 1
                metrics = self._step(step, state, engine, model, optimizer, scheduler, ref_model, adv_cfg, pad_id, device)
                state.step = step
                if cfg.eval.every and step % cfg.eval.every == 0 and step < cfg.max_steps:
                    metrics.update(engine.evaluate(cfg.eval.episodes, cfg.eval.seed_start))
                logger.log(step, metrics)
                bar.update()
                bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}", success=f"{metrics['success_rate']:.2f}", refresh=False)
                last = step == cfg.max_steps
                if (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or last or step == self.stop_after:
                    save_checkpoint(self.run_dir, state, *self.ranks.checkpoint_states(), scheduler, cfg.to_dict(), cfg.checkpoint.keep)
                if step == self.stop_after:
                    bar.close()
                    return asdict(state)
            bar.close()
            if cfg.eval.at_end and cfg.eval.episodes > 0:
                after = engine.evaluate(cfg.eval.episodes, cfg.eval.seed_start)
                state.evals["after"] = after["eval/success"]
                logger.log(state.step, {**after, "final": 1})
                print(f"greedy success after {state.step} steps: {state.evals['after']:.3f}", file=sys.stderr)
                save_checkpoint(self.run_dir, state, *self.ranks.checkpoint_states(), scheduler, cfg.to_dict(), cfg.checkpoint.keep)
        finally:
            logger.close()
            engine.close()
        self._export(self.ranks.export_model(), engine)
        if cfg.log.plot_at_end:
            from verigym.trainer.plot import plot_run

            for path in plot_run(self.run_dir):
                print(f"wrote {path}", file=sys.stderr)
        return asdict(state)

    def _step(self, step, state, engine, model, optimizer, scheduler, ref_model, adv_cfg, pad_id, device) -> dict[str, float]:
        cfg = self.cfg
        t0 = time.perf_counter()
        collected = engine.collect_step(state.next_seed, step_seed=cfg.seed * 1_000_003 + step * 10_007)
        state.next_seed += collected.seeds_used
        state.episodes_seen += len(collected.sampled)
        metrics = episode_metrics(collected.sampled, self.component_names)
        metrics.update(collected.info)
        metrics["time/generation"] = collected.generation_s
        metrics["time/environment"] = collected.environment_s
        t1 = time.perf_counter()
        train = [r for r in collected.train if r.token_ids and r.loss_mask and sum(r.loss_mask) > 0]
        if self.shaping.enabled:
            train, shaping_metrics = self.shaping.apply(train, step)
            metrics.update(shaping_metrics)
            state.shaping = self.shaping.state_dict()
        if not train:
            metrics.update({"time/update": 0.0, "time/weight_sync": 0.0, "skipped_update": 1.0})
            metrics["time/step"] = time.perf_counter() - t0
            return metrics
        names, weights = self.component_names, self.component_weights
        if self.shaping.enabled:  # each shaper's delta is a component of weight 1 (for component-wise estimators)
            names = names + self.shaping.component_names
            weights = {**weights, **{n: 1.0 for n in self.shaping.component_names}}
        batch, _ = build_batch(train, adv_cfg, names, weights, pad_id)
        if adv_cfg.estimator == "canon":  # which half (by length / entropy) earned more
            metrics.update(canon_metrics(advantage_inputs(train, names, weights), adv_cfg))
        # update_policy on every torchrun rank; logprobs of the distribution the engine sampled from
        result = self.ranks.update(batch, cfg.loss, cfg.optim, policy_temperature(cfg.rollout.temperature))
        metrics.update(result.metrics)
        metrics["adv/abs_mean"] = float((batch.advantages.abs() * batch.loss_mask).sum() / batch.loss_mask.sum().clamp(min=1))
        t2 = time.perf_counter()
        metrics["time/update"] = t2 - t1
        metrics.update(engine.sync(self.ranks.weights()))
        metrics["time/step"] = time.perf_counter() - t0
        tokens = int(batch.attention_mask.sum())
        metrics["tokens/step"] = float(tokens)
        metrics["tokens_per_s"] = tokens / max(metrics["time/step"], 1e-9)
        metrics["tokens/policy"] = float(batch.num_tokens)
        return metrics

    def _export(self, model: torch.nn.Module, engine: RolloutEngine) -> Path:
        """Write the trained model (LoRA merged) + tokenizer to RUN_DIR/final-model atomically."""
        final = self.run_dir / "final-model"
        tmp = Path(tempfile.mkdtemp(prefix=".final-model.", dir=self.run_dir))
        try:
            to_save = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
            to_save.save_pretrained(tmp, safe_serialization=True)
            engine.policy.tokenizer.save_pretrained(tmp)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final


def train(config: TrainerConfig, **kwargs: Any) -> dict[str, Any]:
    """Functional shortcut for `Trainer(config, **kwargs).fit()`."""
    return Trainer(config, **kwargs).fit()


__all__ = ["Trainer", "episode_metrics", "train"]
