"""`SHAPERS`: reward-shaping method name -> shaper class (each takes its config section and a `ShapingContext`)."""

from __future__ import annotations

from verigym.trainer.registry import AlgorithmRegistry

SHAPERS: AlgorithmRegistry = AlgorithmRegistry("reward shaper")
