"""The env-sandbox lifecycle: providers own backends and warm pools, every episode gets fresh sessions that are
released when it ends (also when it raises, or when the process dies), and sandbox failures drop episodes
with reason `sandbox` while the agent's own failures are scored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

from verigym.agents.collect import collect
from verigym.agents.policy import Completion
from verigym.agents.runner import run_episodes
from verigym.agents.scripted import OraclePolicy
from verigym.envs import Rubric, Task, TextEnv, TurnResult, Verdict, harness_result
from verigym.plugins.registry import RUNTIME_PLUGIN, get_registry
from verigym.plugins.specs import SandboxSpec
from verigym.sandbox import Limits, Requirements, SandboxProviders, SandboxSettings
from verigym.sandbox.choose import choose_backend
from verigym.sandbox.records import ExecResult, Status

SMALL = Limits(timeout_s=3.0, memory_bytes=256 * 1024 * 1024, pids=32, disk_bytes=16 * 1024 * 1024)


@dataclass(frozen=True)
class ShellTask(Task):
    expected: str = ""


class ShellEnv(TextEnv[ShellTask]):
    """Toy sandboxed env: the action is a shell command run in the episode's session; grading runs `cat
    answer.txt` in a fresh grading session after copying the agent's file over (as a real family would)."""

    env_id = "toy-shell-v0"
    task_type = ShellTask
    sandbox_requirements = Requirements(tools=("sh",))
    sandbox_limits = SMALL
    seen: list[tuple[str, str]] = []  # (agent session id, grading session id), across instances

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"correct": 1.0})

    def generate_task(self, seed: int) -> ShellTask:
        return ShellTask(task_id=f"shell-{seed}", seed=seed, expected=f"x{seed}")

    def opening_messages(self, task: ShellTask) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"write {task.expected} to answer.txt"}]

    def on_turn(self, action: str) -> TurnResult:
        ran = self.sandbox.exec(action, timeout=1.0)
        if ran.status is not Status.OK:  # the agent's own failure: an observation, scored 0
            verdict = Verdict(False, 0.0, {"correct": 0.0}, {"status": str(ran.status)})
            return TurnResult([{"role": "user", "content": f"your command ended: {ran.status}"}], True, verdict)
        try:
            answer = self.sandbox.read_file("answer.txt", max_bytes=100)
        except FileNotFoundError:
            answer = b""
        with self.grading_session() as grader:
            type(self).seen.append((self.sandbox.id, grader.id))
            grader.write_file("answer.txt", answer)
            got = harness_result(grader.exec(["cat", "answer.txt"])).stdout.strip()
        ok = got == self.task.expected
        return TurnResult([{"role": "user", "content": "ok" if ok else "no"}], True, Verdict(ok, float(ok), {"correct": float(ok)}))

    def oracle_action(self) -> str:
        return f"echo {self.task.expected} > answer.txt"


@pytest.fixture(params=["local", "docker"])
def backend_name(request):
    if request.param == "docker":
        from verigym.sandbox.hostsetup import docker_answers

        if (problem := docker_answers()) is not None:
            pytest.skip(f"no Docker engine answers ({problem}); `verigym sandbox setup` starts one")
    return request.param


@pytest.fixture
def providers(backend_name):
    with SandboxProviders(SandboxSettings(backend=backend_name), pool_size=4) as p:
        yield p


@pytest.mark.timeout(120)
def test_every_episode_gets_fresh_sessions_and_releases_them(backend_name, host_state):
    ShellEnv.seen.clear()
    with SandboxProviders(SandboxSettings(backend=backend_name), pool_size=4) as providers:
        records = collect(ShellEnv, OraclePolicy(), list(range(12)), concurrency=4, sandbox=providers)
        assert providers.outstanding() == 0
    assert all(r.success for r in records), [r.error for r in records]
    agent_ids = [a for a, _ in ShellEnv.seen]
    grading_ids = [g for _, g in ShellEnv.seen]
    assert len(set(agent_ids) | set(grading_ids)) == 24, "a session was reused across episodes or for grading"
    sandbox = records[0].metadata["sandbox"]
    assert sandbox["backend"] == backend_name and sandbox["reason"]
    assert not host_state.leaks(wait_s=30), "sessions outlived their episodes"


class OneSessionEnv(ShellEnv):
    """The agent's session only (grading in the same session): one sandbox per episode."""

    def on_turn(self, action: str) -> TurnResult:
        ran = self.sandbox.exec(action, timeout=1.0)
        got = harness_result(self.sandbox.exec(["cat", "answer.txt"])).stdout.strip() if ran.ok else ""
        ok = got == self.task.expected
        return TurnResult([{"role": "user", "content": "ok" if ok else "no"}], True, Verdict(ok, float(ok), {"correct": float(ok)}))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_thousand_sandbox_episodes_leave_nothing_behind(backend_name, host_state):
    """1,000 episodes, each with its own fresh session, through the pipelined collector."""
    n = int(os.environ.get("VERIGYM_PROVIDER_SOAK", "1000"))
    start = time.monotonic()
    records = collect(OneSessionEnv, OraclePolicy(), list(range(n)), concurrency=16, sandbox=backend_name)
    elapsed = time.monotonic() - start
    assert sum(r.success for r in records) == n, [r.error for r in records if not r.success][:3]
    print(f"\n{backend_name}: {n} sandbox episodes in {elapsed:.1f} s ({n / elapsed:.1f}/s)")
    assert not host_state.leaks(wait_s=60), "sandbox episodes leaked"


@pytest.mark.timeout(120)
def test_sessions_are_released_when_the_episode_raises(providers):
    class Crashing(ShellEnv):
        def on_turn(self, action):
            self.sandbox.exec("true")
            raise RuntimeError("env bug mid-episode")

    records = collect(Crashing, OraclePolicy(), list(range(6)), concurrency=3, sandbox=providers)
    assert all(r.dropped and r.drop_reason == "env" for r in records)
    assert providers.outstanding() == 0


@pytest.mark.timeout(120)
def test_agent_failures_are_scored_and_harness_failures_dropped(providers):
    class HarnessBroken(ShellEnv):
        def on_turn(self, action):
            if self.task.seed == 1:
                broken = ExecResult(Status.SANDBOX_ERROR, None, None, "", "", False, False, 0.0, "worker lost")
                harness_result(broken)
            if self.task.seed == 2:
                self.sandbox.close()  # the backend loses the session under us
                self.sandbox.exec("true")
            return super().on_turn(action)

    class Policy:
        name = "mixed"

        def generate(self, requests, sampling):
            return [Completion("sleep 30" if r.seed == 0 else r.env.oracle_action()) for r in requests]

    records = collect(HarnessBroken, Policy(), [0, 1, 2, 3], sandbox=providers)
    timeout, harness, lost, fine = records
    assert not timeout.dropped and timeout.components["correct"] == 0.0 and "timeout" in timeout.messages[-1]["content"]
    assert harness.dropped and harness.drop_reason == "sandbox" and "worker lost" in harness.error
    assert lost.dropped and lost.drop_reason == "sandbox"
    assert fine.success
    assert providers.outstanding() == 0


@pytest.mark.timeout(60)
def test_a_bare_env_works_without_a_runner():
    env = ShellEnv()
    env.reset(seed=3)
    _, reward, terminated, _, _ = env.step("echo x3 > answer.txt")
    assert terminated and reward == 1.0
    env.close()
    env.close()  # idempotent


def test_a_plugin_backend_can_be_chosen(monkeypatch):
    from verigym.sandbox.local import LocalBackend

    made = []

    def fake_backend(limits=None):
        made.append(limits)
        return LocalBackend(limits)

    registry = get_registry()
    registry.sandboxes.add(SandboxSpec("fake-local", fake_backend, "test backend"), RUNTIME_PLUGIN)
    try:
        choice = choose_backend("fake-local")
        assert (choice.backend, choice.reason) == ("fake-local", "requested explicitly")
        records = collect(ShellEnv, OraclePolicy(), [0, 1], sandbox="fake-local")
        assert all(r.success for r in records) and made == [SMALL]
        assert records[0].metadata["sandbox"]["backend"] == "fake-local"
    finally:
        del registry.sandboxes.entries["fake-local"]
    with pytest.raises(ValueError, match="sandbox backend must be one of"):
        SandboxProviders(SandboxSettings(backend="no-such-backend"))


@pytest.mark.timeout(120)
def test_run_records_the_backend_and_why(tmp_path):
    get_registry()
    records, summary = run_episodes("beam-statics-v0", OraclePolicy(), n=2, progress=False)
    assert summary.sandbox is None  # an env without sandbox requirements never touches a backend
    records, summary = run_episodes(
        "toy-shell-v0", OraclePolicy(), n=4, progress=False, sandbox="local", env_factory=ShellEnv
    )
    assert summary.scored == 4 and summary.success_rate == 1.0
    assert summary.sandbox.startswith("local (requested explicitly")


@pytest.mark.timeout(120)
def test_a_killed_process_leaves_no_sandbox_behind(host_state, tmp_path):
    """SIGKILL a process holding live sessions and a warm pool: its sandboxes go away with it (local: the
    worker sees its socket close; docker: the next backend start reaps containers of dead owners)."""
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_provider import ShellEnv
        from verigym.sandbox import SandboxProviders, SandboxSettings
        providers = SandboxProviders(SandboxSettings(backend=sys.argv[1]), pool_size=3)
        envs = [ShellEnv() for _ in range(3)]
        for i, env in enumerate(envs):
            env.use_sandboxes(providers)
            env.reset(seed=i)
            env.sandbox.exec("sleep 300 &")
        print("ready", flush=True)
        time.sleep(600)
    """))
    backends = ["local"]
    from verigym.sandbox.hostsetup import docker_answers

    if docker_answers() is None:
        backends.append("docker")
    # local three times: a kill that lands while the warm pool is starting a sandbox once left a bwrap behind
    for backend in ["local", "local", *backends[1:]]:
        proc = subprocess.Popen([sys.executable, str(script), backend], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if backend == "docker":
            with SandboxProviders(SandboxSettings(backend="docker")) as p:
                p.provider(Requirements())  # a new backend reaps what dead owners left
    time.sleep(1)


@pytest.mark.timeout(60)
def test_auto_falls_back_to_local_and_says_why_when_docker_is_down(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # an engine that does not answer
    records, summary = run_episodes("toy-shell-v0", OraclePolicy(), n=3, progress=False, sandbox="auto", env_factory=ShellEnv)
    assert summary.success_rate == 1.0
    assert summary.sandbox.startswith("local (Docker not usable:"), summary.sandbox
    assert "Docker not usable" in summary.table()
