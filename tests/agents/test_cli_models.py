"""`verigym run ENV --agent vllm|hf --model DIR` end to end, in a fresh process like a user would run it."""

import os
import re
import subprocess
import sys

import pytest

from verigym.agents.records import read_episodes


def run_cli(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}
    return subprocess.run([sys.executable, "-m", "verigym.cli", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.vllm
@pytest.mark.parametrize("agent", ["vllm", "hf"])
def test_run_with_a_model_policy_writes_token_records(agent, tiny_model, tmp_path):
    out = tmp_path / f"{agent}.parquet"
    result = run_cli("run", "beam-statics-v0", "--agent", agent, "--model", str(tiny_model), "-n", "2", "--max-tokens", "16",
                     "--temperature", "0", "--env-arg", "max_turns=2", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"errored \(agent/env\)\s+0\n", result.stdout), result.stdout[-2000:]
    records = read_episodes(out)
    assert len(records) == 2 and all(r.policy == agent and r.turns == 2 for r in records)
    assert all(len(r.token_ids) == len(r.loss_mask) == len(r.logprobs) == len(r.turn_index) for r in records)


def test_run_with_a_missing_model_says_what_to_do(tmp_path):
    result = run_cli("run", "beam-statics-v0", "--agent", "hf", "--model", str(tmp_path / "none"), "-n", "1")
    assert result.returncode == 1 and "verigym model tiny" in result.stderr
