"""vLLM's log noise in training runs: WARNING by default, and no per-step warning for weightless layers."""

from __future__ import annotations

import logging
import os

import pytest

from verigym.agents.vllm_policy import RELOAD_LOGGER, _DropWeightlessReloadWarnings, quiet_vllm_logging


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(RELOAD_LOGGER, logging.WARNING, __file__, 1, msg, args, None)


@pytest.mark.timeout(10)
def test_reload_warning_is_dropped_only_for_weightless_layers():
    keep = _DropWeightlessReloadWarnings().filter
    assert keep(record("%s: Failed to load weights", "RotaryEmbedding")) is False
    assert keep(record("%s: Failed to load weights", "QKVParallelLinear")) is True  # a real layer lost its weights
    assert keep(record("%s: Delayed processing", "RotaryEmbedding")) is True
    assert keep(record("Reloading weights inplace...")) is True


@pytest.mark.timeout(10)
def test_quiet_logging_defaults_the_level_keeps_a_users_choice_and_installs_one_filter(monkeypatch):
    logger = logging.getLogger(RELOAD_LOGGER)
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "unset")  # recorded, so the test leaves the variable as it found it
    monkeypatch.delenv("VLLM_LOGGING_LEVEL")
    quiet_vllm_logging()
    quiet_vllm_logging()

    assert os.environ["VLLM_LOGGING_LEVEL"] == "WARNING"
    assert sum(isinstance(f, _DropWeightlessReloadWarnings) for f in logger.filters) == 1
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "DEBUG")
    quiet_vllm_logging()
    assert os.environ["VLLM_LOGGING_LEVEL"] == "DEBUG"
