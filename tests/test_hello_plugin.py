"""The example third-party plugin is found through entry points: by make, by `verigym list`, in spawned workers."""

import functools
import importlib
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

import verigym
from verigym.plugins import reset_registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hello-plugin"


@pytest.fixture(scope="module")
def hello_installed():
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-build-isolation", str(EXAMPLE)], check=True, timeout=300)
    importlib.invalidate_caches()
    reset_registry()
    yield
    subprocess.run([*pip, "uninstall", "-q", "-y", "verigym-hello"], check=True, timeout=300)
    importlib.invalidate_caches()
    reset_registry()


def test_make_finds_the_plugin_env(hello_installed):
    env = verigym.make("hello-v0")
    obs, info = env.reset(seed=5)
    assert "Greet" in obs[0]["content"]
    assert verigym.get_registry().envs.get("hello-v0").plugin == "hello"


def test_verigym_list_shows_it_with_its_plugin(hello_installed):
    out = subprocess.run([sys.executable, "-m", "verigym", "list"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "hello-v0" in line)
    assert "hello [verigym-hello 0.1.0]" in line


def test_a_spawned_worker_discovers_it(hello_installed):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        names = pool.apply(verigym.list_envs)
        env = pool.apply(functools.partial(verigym.make, "hello-v0", max_turns=2))
    assert "hello-v0" in names
    assert type(env).__module__ == "verigym_hello.env" and env.config.max_turns == 2


def test_the_oracle_solves_it_through_the_runner(hello_installed):
    from verigym.agents.runner import run_episodes
    from verigym.agents.scripted import OraclePolicy

    _, summary = run_episodes("hello-v0", OraclePolicy(), n=8, progress=False)
    assert summary.success_rate == 1.0 and summary.mean_reward == 1.0
