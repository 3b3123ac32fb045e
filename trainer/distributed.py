"""Data-parallel training under `torchrun`: process group, FSDP2 sharding, per-rank rows, full state dicts.

One source of truth: the torchrun environment (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`). Without it (or with
`WORLD_SIZE=1`) everything here is a no-op and the trainer runs exactly as a single process.

Under torchrun, rank 0 owns the rollout engine and the sandbox providers, collects each step's episodes and
builds the batch (advantages need whole groups); the batch is broadcast and every rank trains on its
contiguous share of each mini-batch's rows. The loss of every rank is divided by the *mini-batch's*
normalisers (token and sequence counts of all ranks' rows together) and FSDP2 averages gradients over ranks,
so the loss is scaled by the world size: the N-rank update equals the 1-rank update on the same batch
(`tests/trainer/test_distributed.py`). The model is sharded with FSDP2 (`fully_shard`) on every decoder layer
and on a root module (`ShardedPolicy`) that runs the chunked log-prob pass as its forward, so the embedding,
final norm and LM head (tied or not) are gathered for it. FSDP2 runs on CPU with gloo (torch >= 2.6) and on
CUDA with NCCL; the same code path serves both.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from verigym.trainer.logprobs import ShardedPolicy

ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job. `world_size == 1` means single-process (no process group)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = field(default=False, compare=False)  # created the process group, so `shutdown` ends it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: runs the rollout engine, evaluation, logging, checkpoint writes and the final export."""
        return self.rank == 0

    def shard(self, start: int, stop: int) -> range:
        """This rank's contiguous share of rows `start..stop-1` (ceil-sized; the last ranks may get fewer)."""
        per = -(-(stop - start) // self.world_size)
        lo = min(start + self.rank * per, stop)
        return range(lo, min(lo + per, stop))

    def micro_batches(self, start: int, stop: int, size: int) -> Iterator[tuple[slice, bool]]:
        """(rows, real) micro-batches of this rank's share of `start..stop-1`. Every rank yields the same
        number (FSDP2's forward and backward are collectives), so a rank with fewer rows gets padding
        micro-batches (`real` False: run on row `start` with the loss multiplied by 0)."""
        mine = self.shard(start, stop)
        per = -(-(stop - start) // self.world_size)
        count = -(-per // size)
        for i in range(count):
            lo = mine.start + i * size
            if lo < mine.stop:
                yield slice(lo, min(lo + size, mine.stop)), True
            else:
                yield slice(start, start + 1), False

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over ranks (in place, also returned); identity when single-process."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (pickled; for batches and small records)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def context_from_env(env: dict[str, str] | None = None) -> DistContext:
    """The job layout torchrun exported (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`); single-process when absent."""
    env = dict(os.environ if env is None else env)
    if "WORLD_SIZE" not in env:
        return DistContext()
    missing = [k for k in ENV_VARS if k not in env]
    if missing:
        raise RuntimeError(f"WORLD_SIZE is set but {missing} are not; launch with `torchrun --nproc-per-node N -m verigym ...`")
    ctx = DistContext(int(env["WORLD_SIZE"]), int(env["RANK"]), int(env["LOCAL_RANK"]))
    if not 0 <= ctx.rank < ctx.world_size:
        raise RuntimeError(f"RANK={ctx.rank} is outside WORLD_SIZE={ctx.world_size}")
    return ctx


def init_distributed(device: torch.device, timeout_s: float = 1800.0) -> tuple[DistContext, torch.device]:
    """Join the torchrun job (NCCL for CUDA tensors plus gloo for CPU ones on GPU, gloo on CPU) and return the context and this rank's device
    (`cuda:LOCAL_RANK` on GPU). Single-process: no process group, `device` unchanged."""
    ctx = context_from_env()
    if not ctx.enabled:
        return ctx, device
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} GPUs are visible; use --nproc-per-node <= the GPU count")
        torch.cuda.set_device(ctx.local_rank)
        device = torch.device("cuda", ctx.local_rank)
    if dist.is_initialized():  # the caller's group (e.g. several runs in one job): left to the caller to end
        return ctx, device
    backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"  # metric sums and batches are CPU tensors
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), device_id=device if device.type == "cuda" else None)
    return DistContext(ctx.world_size, ctx.rank, ctx.local_rank, owns_group=True), device


def shutdown(ctx: DistContext) -> None:
    """End the process group if `init_distributed` created it (idempotent)."""
    if ctx.enabled and ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a Hugging Face causal LM (`model.model.layers` and the like)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") and hasattr(model, "peft_config") else model
    backbone = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    layers = getattr(backbone, "layers", None) or getattr(backbone, "h", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        raise ValueError(f"cannot find the decoder layers of {type(base).__name__} (looked for .{getattr(base, 'base_model_prefix', 'model')}.layers/.h) to shard with FSDP2")
    return list(layers)


def shard_model(model: torch.nn.Module, ctx: DistContext, *, reshard_after_forward: bool = True) -> torch.nn.Module:
    """FSDP2-shard `model` over the job: each decoder layer is one unit, and a `ShardedPolicy` root (the
    embedding, final norm and LM head) runs the log-prob pass. Single-process: `model` unchanged."""
    if not ctx.enabled:
        return model
    if hasattr(model, "peft_config"):
        raise ValueError("LoRA (model.lora.enabled) is not supported under torchrun yet: the adapter merge for the engine push needs the full weights on rank 0; train LoRA single-process or full weights under torchrun")
    from torch.distributed.fsdp import fully_shard

    for layer in decoder_layers(model):
        fully_shard(layer, reshard_after_forward=reshard_after_forward)
    root = ShardedPolicy(model)
    fully_shard(root, reshard_after_forward=reshard_after_forward)
    return root


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The Hugging Face module inside a `ShardedPolicy` (its parameters may be shards)."""
    return model.module if isinstance(model, ShardedPolicy) else model


def _options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **kwargs)


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The full (unsharded, CPU) state dict under plain Hugging Face names. A collective under FSDP2: every
    rank must call it; rank 0 gets the tensors, the other ranks an empty dict."""
    if not isinstance(model, ShardedPolicy):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(model, options=_options())
    return {k.removeprefix("module."): v for k, v in state.items()}


class FullModelState:
    """`state_dict()`/`load_state_dict()` of a (possibly sharded) model in the single-process format, so
    `save_checkpoint`/`load_checkpoint` work unchanged. `state_dict()` returns what was gathered at
    construction (gathering is a collective; only rank 0 writes)."""

    def __init__(self, model: torch.nn.Module, gather: bool = True) -> None:
        self.model = model
        self._state = full_model_state(model) if gather else None

    def state_dict(self) -> dict[str, torch.Tensor]:
        assert self._state is not None, "FullModelState(gather=False) is for loading only"
        return self._state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if not isinstance(self.model, ShardedPolicy):
            self.model.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(self.model, {f"module.{k}": v for k, v in state.items()}, options=_options())


class FullOptimizerState:
    """The same for the optimizer: FSDP2's sharded AdamW states gathered into one full state dict (keyed by
    parameter name; a torchrun checkpoint's optimizer.pt therefore only resumes under torchrun)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, gather: bool = True) -> None:
        self.model, self.optimizer = model, optimizer
        self._state = None
        if gather:
            if isinstance(model, ShardedPolicy):
                from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

                self._state = get_optimizer_state_dict(model, optimizer, options=_options())
            else:
                self._state = optimizer.state_dict()

    def state_dict(self) -> dict[str, Any]:
        assert self._state is not None, "FullOptimizerState(gather=False) is for loading only"
        return self._state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(self.model, ShardedPolicy):
            self.optimizer.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(self.model, self.optimizer, state, options=_options())


def grad_norm_value(norm: torch.Tensor) -> float:
    """`clip_grad_norm_`'s result as a float (FSDP2 returns a replicated DTensor)."""
    full = getattr(norm, "full_tensor", None)
    return float(full() if full is not None else norm)


def checkpoint_world_size(path: str | os.PathLike[str]) -> int:
    """The world size a checkpoint was written under (1 for single-process checkpoints)."""
    import json
    from pathlib import Path

    return int(json.loads((Path(path) / "trainer_state.json").read_text()).get("world_size", 1))


class RankGroup:
    """Rank 0 drives the run; the other ranks `follow()` it. Every collective the trainer needs (the update,
    gathering full weights for the engine push, a checkpoint or the final export) is announced by rank 0 with
    one broadcast, so the other ranks never run the rollout engine, evaluation or logging. Single-process,
    every method is the plain call."""

    def __init__(self, ctx: DistContext, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, device: torch.device, ref_model: torch.nn.Module | None = None) -> None:
        self.ctx, self.model, self.optimizer, self.scheduler, self.device, self.ref_model = ctx, model, optimizer, scheduler, device, ref_model

    def _announce(self, *command: Any) -> None:
        if self.ctx.enabled and self.ctx.is_main:  # followers run the same methods without announcing
            self.ctx.broadcast(command)

    def update(self, batch: Any, loss_cfg: Any, optim_cfg: Any, temperature: float = 1.0) -> Any:
        """`update_policy` on every rank, each on its share of `batch` (rank 0's), its logprobs at the
        sampling `temperature`."""
        from verigym.trainer.update import update_policy

        self._announce("update", batch, loss_cfg, optim_cfg, temperature)
        return update_policy(self.model, self.optimizer, self.scheduler, batch, loss_cfg, optim_cfg, self.device, self.ref_model, dist=self.ctx, temperature=temperature)

    def weights(self) -> torch.nn.Module | FullModelState:
        """Something whose `state_dict()` is the full model under plain HF names (what `RolloutEngine.sync`
        exports): the model itself single-process, else the gathered weights (rank 0)."""
        if not self.ctx.enabled:
            return self.model
        self._announce("weights")
        return FullModelState(self.model)

    def checkpoint_states(self) -> tuple[Any, Any]:
        """(model, optimizer) stand-ins for `save_checkpoint`: full state dicts gathered from every rank."""
        if not self.ctx.enabled:
            return self.model, self.optimizer
        self._announce("checkpoint")
        return FullModelState(self.model), FullOptimizerState(self.model, self.optimizer)

    def export_model(self) -> torch.nn.Module:
        """A plain (unsharded) HF model with the trained weights, for `save_pretrained` on rank 0."""
        if not self.ctx.enabled:
            return self.model
        self._announce("weights")
        state = FullModelState(self.model).state_dict()
        from transformers import AutoModelForCausalLM

        base = unwrap(self.model)
        plain = AutoModelForCausalLM.from_config(base.config, dtype=next(iter(state.values())).dtype)
        plain.load_state_dict(state)
        return plain

    def load_checkpoint(self, path: str | os.PathLike[str]) -> Any:
        """Restore model, optimizer, scheduler and RNG states on every rank (each rank reads the files; the
        full state dicts are re-sharded); refuses a checkpoint written under another world size."""
        from verigym.trainer.checkpoint import load_checkpoint

        written = checkpoint_world_size(path)
        if written != self.ctx.world_size:
            raise RuntimeError(
                f"{path} was written by {written} process(es) but this run has WORLD_SIZE={self.ctx.world_size}; "
                f"resume with `torchrun --nproc-per-node {written}` (or without torchrun when 1), or start fresh with --fresh"
            )
        if not self.ctx.enabled:
            return load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        return load_checkpoint(path, FullModelState(self.model, gather=False), FullOptimizerState(self.model, self.optimizer, gather=False), self.scheduler)

    def stop(self) -> None:
        """Release the followers (rank 0, at the end of the run or on an error)."""
        self._announce("stop")

    def follow(self) -> None:
        """Ranks > 0: serve rank 0's announcements until it stops."""
        while True:
            command = self.ctx.broadcast(None)
            kind = command[0]
            if kind == "stop":
                return
            if kind == "update":
                self.update(*command[1:])
            elif kind == "weights":
                FullModelState(self.model)
            elif kind == "checkpoint":
                FullModelState(self.model), FullOptimizerState(self.model, self.optimizer)
            else:
                raise RuntimeError(f"rank {self.ctx.rank}: unknown command {kind!r} from rank 0")


__all__ = [
    "DistContext",
    "FullModelState",
    "FullOptimizerState",
    "RankGroup",
    "ShardedPolicy",
    "context_from_env",
    "full_model_state",
    "checkpoint_world_size",
    "grad_norm_value",
    "init_distributed",
    "shard_model",
    "shutdown",
    "unwrap",
]
