"""Trainer configuration: typed dataclasses read from one TOML file (`verigym train CONFIG.toml`).

Every section maps to a dataclass below; unknown keys are refused with the list of known ones, so a typo
never silently falls back to a default. See trainer/README.md for the reference.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verigym.agents.ray_workers import RaySettings
from verigym.trainer.advantages import ADVANTAGE_ESTIMATORS
from verigym.trainer.losses import AGGREGATIONS, KL_ESTIMATORS, POLICY_LOSSES, LossConfig
from verigym.trainer.shaping import ShapingConfig


@dataclass
class TinyModelConfig:
    """Shape of the random tiny model built when `model.path` does not exist (`model.build_tiny = true`)."""

    layers: int = 2
    hidden: int = 128
    heads: int = 2
    kv_heads: int = 2
    intermediate: int | None = None
    seed: int = 0
    # std of the random init. 0.02 (the usual HF value) gives near-uniform initial next-token
    # distributions; the builder's default 0.1 gives peaked ones, on which RL collapses onto a constant answer
    init_std: float = 0.1
    vocab_size: int | None = None  # None: the builder's 512
    corpus: str = "default"  # tokenizer merges: "default" or "beam-statics" (see agents/tiny_model.py)


@dataclass
class LoraConfig:
    """LoRA through peft: only the adapter trains; it is merged into a copy of the weights pushed to vLLM."""

    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    """The policy. `dtype` "auto" is bf16 on CUDA and fp32 on CPU; `device` "auto" is cuda when available."""

    path: str = "runs/tiny-model"
    build_tiny: bool = False
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class EnvSection:
    """The registered environment, its settings, and where the training task seeds start."""

    id: str = "copy-digits-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)
    seed_start: int = 0


@dataclass
class SandboxConfig:
    """Where sandboxed envs run their agent code: `backend` is "auto" or any registered sandbox backend
    (`verigym list`); `pool_size` warm sessions (None: sized to the rollout concurrency)."""

    backend: str = "auto"
    pool_size: int | None = None


@dataclass
class RolloutConfig:
    """How episodes are collected: `engine` is a registered model policy, "vllm" (colocated, in-process) or
    "hf" (transformers generate), or a plugin's policy that takes the same arguments.

    Each step plays `groups_per_step` task seeds x `group_size` samples. `stop` strings end a completion
    (e.g. ["</answer>"]). `dynamic_sampling` drops zero-variance groups and refills them from new seeds.
    `schedule` is the collector's: "lockstep" (default: batch composition depends only on the seeds, so a
    resumed run replays bit-exactly) or "pipelined" (env steps overlap generation; samples depend on timing;
    the vllm engine then batches continuously, each episode turn its own request, up to `concurrency`).
    `backend` is where envs run: "local" (this process) or "ray" (Ray actors, set up by `[rollout.ray]`:
    `RaySettings`, see agents/README.md; needs the `ray` extra).
    `dtype` is the engine's weight precision: "auto" is the trained model's (`model.dtype`); a lower one
    (e.g. "bfloat16" for vLLM on a CPU with AMX/AVX512-BF16 or on GPU) samples faster from a rounded copy of
    the policy, whose logprob gap the loss's truncated importance weights (`loss.tis_cap`) correct. The hf
    engine then generates with its own copy instead of the trained module.
    """

    engine: str = "vllm"
    schedule: str = "lockstep"
    groups_per_step: int = 8
    group_size: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: list[str] = field(default_factory=list)
    max_turns: int | None = None
    concurrency: int = 64
    gpu_memory_utilization: float = 0.3
    max_model_len: int = 512
    dtype: str = "auto"
    dynamic_sampling: bool = False
    max_resample_rounds: int = 3
    backend: str = "local"
    ray: RaySettings = field(default_factory=RaySettings)


@dataclass
class AlgorithmConfig:
    """Advantage estimator (see `ADVANTAGE_ESTIMATORS`), turn discount and std guard."""

    advantage: str = "grpo"
    gamma: float = 1.0
    eps: float = 1e-6
    process_coef: float = 1.0  # `hybrid`: weight of the batch-normalised process rewards (shaping.process)
    canon_metric: str = "length"  # `canon`: split each group at its median "length" or "entropy"
    canon_mu: float = 0.75  # `canon`: weight of the across-half advantage (0.5 = Dr. GRPO)


@dataclass
class OptimConfig:
    """AdamW with linear warmup then a `constant`, `linear` or `cosine` schedule down to `min_lr_ratio * lr`.

    Each rollout batch is split into `mini_batches` optimizer steps, each accumulated over micro-batches of
    `micro_batch_size` sequences, for `epochs` passes. Log-probs and entropies are computed only at policy
    tokens, `logits_chunk_mib` MiB of fp32 logits at a time (peak memory independent of length x vocabulary).
    With `share_prefix`, the rows of a micro-batch that share their tokens up to the first policy token (the
    samples of one prompt) run that prefix through the model once, forward and backward, instead of once per
    row: the same update up to float rounding, much less compute for GRPO groups. It applies to Llama/Qwen
    decoders with sdpa/eager attention, without gradient checkpointing or FSDP2, and only where it saves at
    least a fifth of the tokens; elsewhere, and with False, every row runs whole.
    """

    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = "constant"
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    micro_batch_size: int = 16
    mini_batches: int = 1
    epochs: int = 1
    logits_chunk_mib: float = 64.0
    share_prefix: bool = True


@dataclass
class EvalConfig:
    """Greedy success on held-out seeds `seed_start`.. (disjoint from training seeds), before/after and every N steps."""

    every: int = 0
    episodes: int = 64
    seed_start: int = 1_000_000_000
    at_start: bool = True
    at_end: bool = True


@dataclass
class CheckpointConfig:
    """Save every `every` steps (0: only at the end), keep the last `keep`."""

    every: int = 0
    keep: int = 2


@dataclass
class LogConfig:
    """Metrics go to RUN_DIR/metrics.jsonl always; TensorBoard and the progress bar are optional."""

    tensorboard: bool = True
    progress: bool = True
    plot_at_end: bool = True


@dataclass
class TrainerConfig:
    """The whole run. `run_dir` holds metrics, TensorBoard events, checkpoints and plots."""

    run_dir: str = "runs/train"
    seed: int = 0
    max_steps: int = 100
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvSection = field(default_factory=EnvSection)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    shaping: ShapingConfig = field(default_factory=ShapingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def validate(self) -> TrainerConfig:
        """Check choices and sizes; raises ValueError naming the key and the allowed values."""
        from verigym.plugins.registry import get_registry
        from verigym.trainer.model import DTYPES

        registry = get_registry()
        policies, sandboxes = registry.policies.names(), list(dict.fromkeys(["auto", *registry.sandboxes.names()]))
        checks = [
            (self.rollout.engine in policies, f"rollout.engine {self.rollout.engine!r} is not a registered policy; choose one of {policies}"),
            (self.rollout.schedule in ("lockstep", "pipelined"), f"rollout.schedule must be 'lockstep' or 'pipelined', got {self.rollout.schedule!r}"),
            (self.rollout.dtype in ("auto", *DTYPES), f"rollout.dtype {self.rollout.dtype!r} unknown; choose auto or one of {list(DTYPES)}"),
            (self.rollout.backend in ("local", "ray"), f"rollout.backend must be 'local' or 'ray', got {self.rollout.backend!r}"),
            (self.sandbox.backend in sandboxes, f"sandbox.backend {self.sandbox.backend!r} unknown; choose one of {sandboxes}"),
            (self.sandbox.pool_size is None or (isinstance(self.sandbox.pool_size, int) and self.sandbox.pool_size >= 1), f"sandbox.pool_size must be an int >= 1 (or left out), got {self.sandbox.pool_size!r}"),
            (self.optim.logits_chunk_mib > 0, f"optim.logits_chunk_mib must be > 0, got {self.optim.logits_chunk_mib}"),
            (self.algorithm.advantage in ADVANTAGE_ESTIMATORS, f"algorithm.advantage {self.algorithm.advantage!r} unknown; choose one of {ADVANTAGE_ESTIMATORS.names()}"),
            (self.algorithm.advantage != "hybrid" or bool(self.shaping.process.scorer), 'algorithm.advantage "hybrid" needs process rewards: set shaping.process.scorer (e.g. "rules")'),
            (self.algorithm.canon_metric in ("length", "entropy"), f"algorithm.canon_metric must be 'length' or 'entropy', got {self.algorithm.canon_metric!r}"),
            (0.0 <= self.algorithm.canon_mu <= 1.0, f"algorithm.canon_mu must be in [0, 1], got {self.algorithm.canon_mu}"),
            (self.loss.policy_loss in POLICY_LOSSES, f"loss.policy_loss {self.loss.policy_loss!r} unknown; choose one of {POLICY_LOSSES.names()}"),
            (self.loss.aggregation in AGGREGATIONS, f"loss.aggregation {self.loss.aggregation!r} unknown; choose one of {AGGREGATIONS.names()}"),
            (self.loss.kl_estimator in KL_ESTIMATORS, f"loss.kl_estimator {self.loss.kl_estimator!r} unknown; choose one of {KL_ESTIMATORS.names()}"),
            (self.loss.tis_level in ("token", "sequence"), f"loss.tis_level must be 'token' or 'sequence', got {self.loss.tis_level!r}"),
            (self.optim.schedule in ("constant", "linear", "cosine"), f"optim.schedule must be constant, linear or cosine, got {self.optim.schedule!r}"),
            (self.rollout.group_size >= 1 and self.rollout.groups_per_step >= 1, "rollout.group_size and rollout.groups_per_step must be >= 1"),
            (self.optim.micro_batch_size >= 1 and self.optim.mini_batches >= 1 and self.optim.epochs >= 1, "optim.micro_batch_size, mini_batches and epochs must be >= 1"),
            (self.max_steps >= 0, "max_steps must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"config: {message}")
        self.shaping.check()
        return self

    def to_dict(self) -> dict[str, Any]:
        """A TOML/JSON-able dict (what a checkpoint stores)."""
        return dataclasses.asdict(self)


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass `cls` from nested dicts, refusing unknown keys with the known ones listed."""
    if not isinstance(data, dict):
        raise ValueError(f"config: [{where or 'root'}] must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"config: unknown key(s) {sorted(unknown)} in [{where or 'root'}]; known keys: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, key)
        elif typing.get_origin(tp) is tuple and isinstance(value, list):
            kwargs[name] = tuple(value)
        elif tp is float and isinstance(value, int) and not isinstance(value, bool):
            kwargs[name] = float(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def read_toml(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TOML config file as a dict, with dotted `overrides` (`rollout.group_size`) set; clear errors for a
    missing file or invalid TOML. Every config loader (train, sft, demo pipeline) reads through here."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    return apply_overrides(data, overrides or {})


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`data` with dotted keys (`train.max_steps`) set to the given values (in place; returned)."""
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainerConfig:
    """Read a TOML file into a validated `TrainerConfig`; `overrides` maps dotted keys to values."""
    return from_dict(TrainerConfig, read_toml(path, overrides)).validate()
