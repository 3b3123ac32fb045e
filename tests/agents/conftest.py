"""Shared fixtures for the agents tests: the tiny model, one HF policy, one in-process vLLM engine and one
real OpenAI-compatible vLLM server on loopback, each built once per session (start-up times are printed)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from verigym.envs import (  # noqa: E402
    MalformedAction,
    Rubric,
    Task,
    TextEnv,
    ToolCall,
    TurnResult,
    Verdict,
    format_answer,
    format_tool_call,
    parse_action,
)

STARTUP: dict[str, float] = {}


@dataclass(frozen=True)
class EchoTask(Task):
    word: str = ""


class EchoEnv(TextEnv[EchoTask]):
    """Toy env: look the word up with the `peek` tool, then answer it. `step_sleep_s` simulates a sandbox."""

    env_id = "toy-echo-v0"
    task_type = EchoTask
    step_sleep_s = 0.0
    steps_outside_python = True  # its sleep stands for a sandbox

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"correct": 1.0})

    def generate_task(self, seed: int) -> EchoTask:
        rng = random.Random(seed)
        return EchoTask(task_id=f"echo-{seed}", seed=seed, word="".join(rng.choices("abcdefgh", k=5)))

    def opening_messages(self, task: EchoTask) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "Use <tool_call> or <answer>."},
            {"role": "user", "content": f"Echo the secret word (seed {task.seed})."},
        ]

    def on_turn(self, action: str) -> TurnResult:
        time.sleep(self.step_sleep_s)
        parsed = parse_action(action, tools={"peek"})
        if isinstance(parsed, MalformedAction):
            return TurnResult([{"role": "user", "content": parsed.reason}], malformed=parsed.reason)
        if isinstance(parsed, ToolCall):
            return TurnResult([{"role": "tool", "content": f"the word is {self.task.word}"}])
        ok = parsed.text == self.task.word
        return TurnResult([{"role": "user", "content": "right" if ok else "wrong"}], terminated=True,
                          verdict=Verdict(ok, float(ok), {"correct": float(ok)}))

    def oracle_action(self) -> str:
        return format_tool_call("peek", {}) if self.turn == 0 else format_answer(self.task.word)


@pytest.fixture(scope="session")
def echo_env_cls() -> type[EchoEnv]:
    return EchoEnv


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verigym.agents.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tokenizer(tiny_model: Path):
    from verigym.agents.chat_tokens import load_tokenizer

    return load_tokenizer(tiny_model)


@pytest.fixture(scope="session")
def hf_policy(tiny_model: Path):
    from verigym.agents.hf_policy import HFPolicy

    return HFPolicy(tiny_model)


@pytest.fixture(scope="session")
def vllm_policy(tiny_model: Path):
    pytest.importorskip("vllm", reason="vLLM is not installed")
    from verigym.agents.vllm_policy import VllmPolicy

    start = time.perf_counter()
    policy = VllmPolicy(tiny_model, max_model_len=4096)
    STARTUP["vllm in-process engine"] = time.perf_counter() - start
    return policy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerHandle:
    """A running server: its base URL and process; `crash()` kills it and its engine core at once."""

    url: str
    proc: subprocess.Popen

    def crash(self) -> None:
        kill_group(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def vllm_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """`python -m vllm.entrypoints.openai.api_server` serving the tiny model on 127.0.0.1 (a `ServerHandle`)."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "vllm-server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model), "--host", "127.0.0.1",
           "--port", str(port), "--enforce-eager", "--dtype", "float32", "--max-model-len", "4096", "--seed", "0"]
    start = time.perf_counter()
    with open(log, "wb") as out:
        # Own process group: the server forks an engine-core process that must die with it.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            if proc.poll() is not None:
                pytest.skip(f"the vLLM server exited with {proc.returncode} at start-up; log: {log.read_text()[-2000:]}")
            if time.perf_counter() - start > 240:
                pytest.fail(f"the vLLM server did not answer within 240 s; log: {log}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        STARTUP["vllm OpenAI server"] = time.perf_counter() - start
        yield ServerHandle(url, proc)
    finally:
        kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(proc, signal.SIGKILL)
        time.sleep(0.5)
        kill_group(proc, signal.SIGKILL)  # any engine-core child left behind


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the server's whole process group (it was started in a new session, so the group is its own)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    for name, seconds in STARTUP.items():
        terminalreporter.write_line(f"start-up: {name}: {seconds:.1f} s")
