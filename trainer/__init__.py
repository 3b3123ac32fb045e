"""The bundled policy-gradient trainer: GRPO-family advantages, PPO/GSPO/CISPO losses, vLLM rollouts.

`Trainer(load_config("run.toml")).fit()` or `verigym train run.toml`. Importing this package is cheap;
torch-heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Trainer", "TrainerConfig", "load_config", "train"]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "train"):
        try:
            from verigym.trainer import loop
        except ModuleNotFoundError as exc:  # torch and friends come with the 'train' extra
            from verigym.plugins.extras import explain_missing_module

            raise explain_missing_module(exc, "verigym.trainer") from exc
        return getattr(loop, name)
    if name in ("TrainerConfig", "load_config"):
        from verigym.trainer import config

        return getattr(config, name)
    raise AttributeError(name)
