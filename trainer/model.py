"""Loading the trainable policy (device, dtype, gradient checkpointing, LoRA) and exporting its weights
under the plain Hugging Face names the rollout engine expects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import torch

from verigym.trainer.config import ModelConfig

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """`auto` is cuda when a GPU is visible, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"model.device = {name!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on CUDA and fp32 on CPU."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"model.dtype {name!r} unknown; choose auto or one of {sorted(DTYPES)}") from None


def ensure_model(cfg: ModelConfig) -> Path:
    """The model directory; builds the random tiny model there first if it is missing and `build_tiny` is set."""
    path = Path(cfg.path)
    if (path / "config.json").is_file():
        return path
    if not cfg.build_tiny:
        raise FileNotFoundError(f"model.path {path} has no config.json; point it at a Hugging Face model directory or set model.build_tiny = true")
    from verigym.agents.tiny_model import build_tiny_model

    t = cfg.tiny
    return Path(build_tiny_model(path, layers=t.layers, hidden=t.hidden, heads=t.heads, kv_heads=t.kv_heads, intermediate=t.intermediate, seed=t.seed, init_std=t.init_std, vocab_size=t.vocab_size, corpus=t.corpus))


def load_policy_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """The causal LM to train, with gradient checkpointing and a LoRA adapter when configured."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(ensure_model(cfg)), dtype=dtype).to(device)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora.enabled:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout, target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
        if cfg.gradient_checkpointing:
            model.enable_input_require_grads()
    return model


def load_reference_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A frozen copy of the initial policy for the KL term."""
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(str(ensure_model(cfg)), dtype=dtype).to(device).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def is_lora(model: torch.nn.Module) -> bool:
    return hasattr(model, "merge_adapter") and hasattr(model, "peft_config")


def export_weights(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs under plain HF names. A LoRA model is merged for the duration of the iteration
    (W + BA computed in place, then unmerged), so the engine receives full merged weights."""
    if not is_lora(model):
        yield from model.state_dict().items()
        return
    model.merge_adapter()
    try:
        base = model.get_base_model()
        for name, tensor in base.state_dict().items():
            if "lora_" in name:
                continue
            yield name.replace(".base_layer.", "."), tensor
    finally:
        model.unmerge_adapter()


def timed_export(model: torch.nn.Module) -> tuple[list[tuple[str, torch.Tensor]], float]:
    """`export_weights` materialised, and the seconds it took (the LoRA merge cost)."""
    start = time.perf_counter()
    pairs = [(k, v.detach().clone()) for k, v in export_weights(model)] if is_lora(model) else list(export_weights(model))
    return pairs, time.perf_counter() - start
