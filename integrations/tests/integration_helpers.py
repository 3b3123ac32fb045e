"""Helpers for the integration tests: live servers on 127.0.0.1, in-process oracle episodes, replays."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import verigym


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {proc.returncode} before answering")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "healthy":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no healthy server at {url} after {timeout_s} s")


@contextmanager
def cli_server(env_id: str, *args: str) -> Iterator[str]:
    """`verigym serve ENV ARGS` in a subprocess (the real command line); yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "verigym", "serve", env_id, "--port", str(port), *args]
    # The log goes to a file: an unread pipe fills up and blocks the server.
    log = tempfile.NamedTemporaryFile("w+", prefix=f"verigym-serve-{env_id}-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 120, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


@contextmanager
def thread_server(settings: Any) -> Iterator[tuple[str, Any]]:
    """The same app under uvicorn in a thread of this process; yields (base URL, app)."""
    import uvicorn

    from verigym.integrations.openenv_server import create_app

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 60)
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass(frozen=True)
class OracleEpisode:
    """An oracle episode played in-process: the opening, each action and what each step returned."""

    seed: int
    opening: list[dict[str, str]]
    actions: list[str]
    steps: list[tuple[list[dict[str, str]], float, bool, dict[str, float]]]  # messages, reward, done, components

    @property
    def total(self) -> float:
        return sum(step[1] for step in self.steps)


def play_oracle(env_id: str, seed: int, providers: Any = None, **env_kwargs: Any) -> OracleEpisode:
    env = verigym.make(env_id, **env_kwargs)
    if providers is not None:
        env.use_sandboxes(providers)
    try:
        opening, _ = env.reset(seed=seed)
        actions, steps = [], []
        while True:
            action = env.oracle_action()
            messages, reward, terminated, truncated, info = env.step(action)
            actions.append(action)
            steps.append((messages, float(reward), terminated or truncated, dict(info["reward_components"])))
            if terminated or truncated:
                return OracleEpisode(seed, opening, actions, steps)
    finally:
        env.close()


async def replay(url: str, episode: OracleEpisode) -> list[tuple[list[dict[str, str]], float, bool, dict[str, float]]]:
    """Play `episode`'s actions through the real openenv-core client; asserts the opening matches."""
    from openenv.core.generic_client import GenericEnvClient

    async with GenericEnvClient(base_url=url) as client:
        result = await client.reset(seed=episode.seed)
        assert result.observation["messages"] == episode.opening
        assert result.done is False and result.reward is None
        steps = []
        for action in episode.actions:
            result = await client.step({"text": action})
            obs = result.observation
            steps.append((obs["messages"], result.reward, result.done, obs["reward_components"]))
        return steps


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str) -> str:
    """The python block after `<!-- example: NAME` in integrations/README.md (the tests run what users copy)."""
    text = README.read_text()
    start = text.index(f"<!-- example: {name} ")
    block = text.index("```python\n", start) + len("```python\n")
    return text[block : text.index("```", block)]
