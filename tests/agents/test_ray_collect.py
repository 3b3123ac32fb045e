"""Collection through Ray env workers on a local Ray instance on loopback (one per test session): records equal
in-process ones, lost actors give retried or `worker`-dropped episodes (never a hang), nothing leaks, and the
README's example runs."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'verigym[ray]'")

from verigym.agents.collect import collect  # noqa: E402
from verigym.agents.policy import Completion  # noqa: E402
from verigym.agents.ray_workers import RayEnvWorkers, RaySettings  # noqa: E402
from verigym.agents.scripted import OraclePolicy  # noqa: E402
from verigym.sandbox.provider import SandboxSettings  # noqa: E402

README = Path(__file__).resolve().parents[2] / "agents" / "README.md"


@pytest.fixture(scope="module")
def ray_cluster(echo_env_cls):
    """One local Ray instance on loopback for these tests; the toy env classes travel to it by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[echo_env_cls.__module__])
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    print(f"\nray.init: {time.perf_counter() - started:.1f} s")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def workers(ray_cluster):
    """Two env workers (local sandboxes) shared by the tests that kill nothing; closed, and checked gone, at the end.
    They reserve no CPU, so the other tests' workers (one CPU each) still fit the 2-CPU instance."""
    settings = RaySettings(workers=2, num_cpus=0)
    with RayEnvWorkers(settings, sandbox=SandboxSettings(backend="local")) as shared:
        pids = [p["pid"] for p in shared.placement]
        yield shared
    assert _gone(pids) == [], "env worker processes outlived close()"


def _strip(record) -> dict:
    row = record.to_row()
    row["duration_s"] = 0.0
    return row


def _gone(pids: list[int], within_s: float = 15.0) -> list[int]:
    """The pids still alive after waiting up to `within_s`."""
    deadline = time.monotonic() + within_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.2)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(60)
def test_records_equal_in_process_collection(workers, echo_env_cls, tokenizer):
    local = collect(echo_env_cls, OraclePolicy(), range(6), group_size=2, tokenizer=tokenizer, concurrency=4)
    for schedule in ("pipelined", "lockstep"):
        remote = collect(echo_env_cls, OraclePolicy(), range(6), group_size=2, tokenizer=tokenizer, concurrency=4,
                         workers=workers, schedule=schedule)
        assert [_strip(r) for r in remote] == [_strip(r) for r in local], schedule
    assert all(r.success and r.token_ids for r in remote)
    assert workers.live() == [{"envs": 0, "sessions": 0}] * 2  # every episode closed its env
    pids = [p["pid"] for p in workers.placement]
    assert len(set(pids)) == 2 and os.getpid() not in pids


@pytest.mark.timeout(60)
def test_the_pipelined_schedule_survives_remote_envs(workers, echo_env_cls):
    class OneSlow(echo_env_cls):
        def on_turn(self, action):
            time.sleep(1.2 if self.task.seed == 0 else 0.01)
            return super().on_turn(action)

    records = collect(OneSlow, OraclePolicy(), range(6), concurrency=3, workers=workers)
    assert all(r.success for r in records)
    # the five fast episodes finish while seed 0 sleeps through its two 1.2 s steps on its worker
    assert max(r.duration_s for r in records[1:]) < 1.2, [round(r.duration_s, 2) for r in records]


@pytest.mark.timeout(60)
def test_sandboxed_envs_use_the_workers_providers_and_release_every_session(workers, echo_env_cls):
    from verigym.sandbox.records import Requirements

    class Sandboxed(echo_env_cls):
        sandbox_requirements = Requirements(image="base")

        def on_turn(self, action):
            result = self.sandbox.exec(["echo", "ok"], timeout=20)
            assert result.exit_code == 0, result
            return super().on_turn(action)

    local = collect(Sandboxed, OraclePolicy(), range(3), concurrency=3, sandbox="local")
    remote = collect(Sandboxed, OraclePolicy(), range(3), concurrency=3, workers=workers)
    assert workers.live() == [{"envs": 0, "sessions": 0}] * 2
    with pytest.raises(ValueError, match="RayEnvWorkers\\(sandbox=...\\)"):
        collect(Sandboxed, OraclePolicy(), [0], workers=workers, sandbox="local")
    assert [r.drop_reason for r in local] == [None] * 3, [r.error for r in local]
    assert [_strip(r) for r in remote] == [_strip(r) for r in local]
    assert remote[0].metadata["sandbox"]["backend"] == "local"


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the sandbox sessions an env worker started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class KillingPolicy:
    """The oracle; before its `kill_on`-th generate call it SIGKILLs the worker process `pid`."""

    name = "oracle"

    def __init__(self, pid: int, kill_on: int = 2) -> None:
        self.pid, self.kill_on, self.calls = pid, kill_on, 0
        self.orphans: list[int] = []  # the killed worker's children at the kill (its sandbox sessions)

    def generate(self, requests, sampling):
        self.calls += 1
        if self.calls == self.kill_on:
            self.orphans = _children(self.pid)
            os.kill(self.pid, signal.SIGKILL)
        return [Completion(r.env.oracle_action()) for r in requests]


@pytest.mark.timeout(60)
def test_a_killed_worker_s_episodes_are_replayed_on_another(ray_cluster, echo_env_cls, tokenizer):
    local = collect(echo_env_cls, OraclePolicy(), range(6), tokenizer=tokenizer, concurrency=6)
    with RayEnvWorkers(RaySettings(workers=2, call_timeout_s=20)) as workers:
        policy = KillingPolicy(workers.placement[0]["pid"])
        remote = collect(echo_env_cls, policy, range(6), tokenizer=tokenizer, concurrency=6, workers=workers)
        retried = [r for r in remote if "worker_retry" in r.metadata]
        assert retried and all("Ray env worker 0 died" in r.metadata["worker_retry"] for r in retried)
        assert [r.drop_reason for r in remote] == [None] * 6
        for r in remote:
            r.metadata.pop("worker_retry", None)
        assert [_strip(r) for r in remote] == [_strip(r) for r in local]
        assert len(workers.live()) == 1
        pids = [p["pid"] for p in workers.placement]
    assert _gone(pids) == []


@pytest.mark.timeout(60)
def test_a_killed_worker_leaves_no_sandbox_process_behind(ray_cluster, echo_env_cls):
    from verigym.sandbox.records import Requirements

    class Sandboxed(echo_env_cls):
        sandbox_requirements = Requirements(image="base")

    with RayEnvWorkers(RaySettings(workers=2, call_timeout_s=20), sandbox=SandboxSettings(backend="local")) as workers:
        policy = KillingPolicy(workers.placement[0]["pid"])
        records = collect(Sandboxed, policy, range(4), concurrency=4, workers=workers)
        assert [r.drop_reason for r in records] == [None] * 4, [r.error for r in records]
        assert policy.orphans, "the killed worker had no sandbox session open"
        assert workers.live() == [{"envs": 0, "sessions": 0}]
        survivor = workers.placement[1]["pid"]
    assert _gone(policy.orphans) == [], "sandbox processes outlived their killed worker"
    assert _gone([survivor]) == []


@pytest.mark.timeout(60)
def test_a_replay_that_diverges_drops_the_episode_instead_of_grading_another_history(ray_cluster, echo_env_cls):
    class PerProcess(echo_env_cls):
        def on_turn(self, action):
            result = super().on_turn(action)
            if not result.terminated:
                result.messages = [{"role": "tool", "content": f"{result.messages[0]['content']} (pid {os.getpid()})"}]
            return result

    with RayEnvWorkers(RaySettings(workers=2, call_timeout_s=20)) as workers:
        policy = KillingPolicy(workers.placement[0]["pid"])
        records = collect(PerProcess, policy, range(4), concurrency=4, workers=workers, schedule="lockstep")
    moved = [r for r in records if r.dropped]
    assert moved and all(r.drop_reason == "worker" for r in moved)
    assert all("replaying turn 0 on another worker gave a different observation" in r.error for r in moved), moved[0].error
    assert all(r.success for r in records if not r.dropped)


@pytest.mark.timeout(60)
def test_with_no_worker_left_episodes_are_dropped_with_reason_worker(ray_cluster, echo_env_cls, tmp_path):
    from verigym.agents.records import read_episodes

    with RayEnvWorkers(RaySettings(workers=1, call_timeout_s=20)) as workers:
        policy = KillingPolicy(workers.placement[0]["pid"], kill_on=3)  # seed 0 plays both its turns first
        started = time.perf_counter()
        records = collect(echo_env_cls, policy, range(5), concurrency=1, workers=workers, out=tmp_path / "e.parquet")
        assert time.perf_counter() - started < 30
    assert len(records) == 5 and records[0].success  # seed 0 finished before the kill
    lost = [r for r in records if r.dropped]
    assert lost and all(r.drop_reason == "worker" for r in lost)
    assert all(r.error.startswith("WorkerLost: ") and "no live Ray env worker left" in r.error for r in lost), lost[0].error
    assert [r.drop_reason for r in read_episodes(tmp_path / "e.parquet")] == [r.drop_reason for r in records]


@pytest.mark.timeout(60)
def test_a_silent_worker_times_out_instead_of_hanging(ray_cluster, echo_env_cls):
    class Stuck(echo_env_cls):
        def on_turn(self, action):
            time.sleep(2.5 if self.task.seed == 1 else 0.0)
            return super().on_turn(action)

    with RayEnvWorkers(RaySettings(workers=2, call_timeout_s=1.0)) as workers:
        started = time.perf_counter()
        records = collect(Stuck, OraclePolicy(), range(3), concurrency=3, workers=workers)
        elapsed = time.perf_counter() - started
    assert [r.drop_reason for r in records] == [None, "worker", None]
    assert "did not answer step within 1 s" in records[1].error and "retry" in records[1].error
    assert elapsed < 10, elapsed


@pytest.mark.timeout(60)
def test_the_readme_example_runs(ray_cluster, capsys):
    text = README.read_text()
    section = text[text.index("## Collecting through Ray"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(example, str(README), "exec"), {})  # noqa: S102 - the documented example, verbatim
    out = capsys.readouterr().out
    assert "8 episodes, 8 succeeded" in out, out


@pytest.mark.timeout(60)
def test_verigym_run_with_ray(ray_cluster, tmp_path, capsys):
    from verigym.cli import main

    out = tmp_path / "eps.parquet"
    assert main(["run", "beam-statics-v0", "-n", "4", "--ray", "local", "--ray-workers", "2", "--out", str(out),
                 "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"success rate\s+1\.000", table) and "ray: 2 workers" in table, table
    assert out.exists()


def test_the_trainer_config_reads_the_ray_backend(tmp_path):
    from verigym.trainer.config import load_config

    path = tmp_path / "run.toml"
    path.write_text('[rollout]\nbackend = "ray"\n[rollout.ray]\naddress = "auto"\nworkers = 3\ncall_timeout_s = 60\n')
    cfg = load_config(path)
    assert cfg.rollout.backend == "ray" and cfg.rollout.ray == RaySettings(address="auto", workers=3, call_timeout_s=60.0)
    assert cfg.to_dict()["rollout"]["ray"]["workers"] == 3
    path.write_text('[rollout]\nbackend = "dask"\n')
    with pytest.raises(ValueError, match="rollout.backend must be 'local' or 'ray'"):
        load_config(path)
    path.write_text('[rollout.ray]\nworker = 3\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['worker'\] in \[rollout.ray\]"):
        load_config(path)


@pytest.mark.timeout(90)
def test_a_training_step_with_ray_env_workers_equals_the_local_one(ray_cluster, tmp_path):
    """`[rollout] backend = "ray"` end to end: the same metrics as in-process envs (lockstep, seeded sampling)."""
    from verigym.agents.tiny_model import build_tiny_model
    from verigym.trainer.config import TrainerConfig, from_dict
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    model = build_tiny_model(tmp_path / "model", layers=1, hidden=64, heads=1, kv_heads=1, seed=0)

    def run(name: str, rollout: dict) -> list[dict]:
        cfg = from_dict(TrainerConfig, {
            "run_dir": str(tmp_path / name), "seed": 3, "max_steps": 1, "model": {"path": str(model)},
            "env": {"id": "copy-digits-v0", "kwargs": {"min_len": 2, "max_len": 2}},
            "rollout": {"engine": "hf", "groups_per_step": 2, "group_size": 2, "max_tokens": 4, **rollout},
            "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
            "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
        }).validate()
        Trainer(cfg).fit()
        return [{k: v for k, v in r.items() if not k.startswith(("time/", "tokens_per_s"))} for r in read_metrics(cfg.run_dir)]

    local = run("local", {})
    remote = run("ray", {"backend": "ray", "ray": {"workers": 2}})
    assert remote == local and local[0]["episodes"] == 4.0


@pytest.mark.timeout(30)
def test_workers_that_cannot_start_say_why_instead_of_waiting_forever(ray_cluster):
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"did not start within 1 s; the cluster has 2 CPUs .* lower workers or num_cpus"):
        RayEnvWorkers(RaySettings(workers=3, num_cpus=1, start_timeout_s=1))
    assert time.perf_counter() - started < 10
