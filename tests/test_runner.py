import pytest

from toy_env import AddEnv
from verigym.agents.policy import Completion
from verigym.agents.records import read_episodes
from verigym.agents.runner import run_episode, run_episodes
from verigym.agents.scripted import GarbagePolicy, OraclePolicy, RandomPolicy
from verigym.envs import format_answer


class FixedPolicy:
    name = "fixed"

    def __init__(self, text):
        self.text = text

    def generate(self, requests, sampling):
        return [Completion(self.text) for _ in requests]


class ExplodingPolicy:
    name = "exploding"

    def generate(self, requests, sampling):
        raise ConnectionError("server went away")


def run(policy, n=20, **kw):
    return run_episodes("toy-add-v0", policy, n=n, progress=False, env_factory=AddEnv, **kw)


def test_oracle_solves_every_episode_over_two_turns(tmp_path):
    records, summary = run(OraclePolicy(), out=tmp_path / "o.parquet")
    assert summary.success_rate == 1.0 and summary.mean_reward == pytest.approx(1.1)
    assert summary.mean_turns == 2.0 and summary.components == {"correct": 1.0, "format": 1.0}
    assert read_episodes(tmp_path / "o.parquet") == records


def test_baselines_score_near_zero_and_never_crash():
    _, rand = run(RandomPolicy())
    _, garbage = run(GarbagePolicy(), n=10)
    assert rand.success_rate < 0.1 and garbage.success_rate == 0.0
    assert garbage.errored == 0 and garbage.dropped_verifier == 0
    assert garbage.mean_turns == AddEnv().config.max_turns


def test_verifier_errors_are_dropped_and_counted_not_scored_zero():
    records, summary = run(FixedPolicy(format_answer("-999")), n=5)
    assert summary.dropped_verifier == 5 and summary.scored == 0
    assert all(r.dropped and r.error.startswith("VerifierError") for r in records)


def test_policy_failures_mark_the_episode_errored_and_the_run_goes_on():
    records, summary = run(ExplodingPolicy(), n=3)
    assert summary.errored == 3 and all("server went away" in r.error for r in records)
    assert "ConnectionError" in records[0].metadata["traceback"]


def test_same_seed_gives_identical_records():
    def strip(records):
        return [{k: v for k, v in r.to_row().items() if k != "duration_s"} for r in records]

    first, _ = run(RandomPolicy(), n=10, seed=100, concurrency=3)
    second, _ = run(RandomPolicy(), n=10, seed=100, concurrency=1)
    assert strip(first) == strip(second)
    assert [r.seed for r in first] == list(range(100, 110))


def test_summary_table_names_every_figure():
    _, summary = run(OraclePolicy(), n=4)
    table = summary.table()
    for label in ("mean reward", "success rate", "mean turns", "component correct", "dropped (verifier error)"):
        assert label in table


def test_run_episode_records_the_conversation():
    record = run_episode(AddEnv(), OraclePolicy(), seed=9)
    roles = [m["role"] for m in record.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert record.turn_records[0].observation == [{"role": "tool", "content": "the answer is a number"}]


def test_envs_that_use_a_sandbox_record_the_backend_in_force_and_why():
    from verigym.sandbox.records import Requirements

    class SandboxedAddEnv(AddEnv):
        sandbox_requirements = Requirements(image="base")

    records, summary = run_episodes("toy-add-v0", OraclePolicy(), n=2, progress=False, env_factory=SandboxedAddEnv)
    sandbox = records[0].metadata["sandbox"]
    assert sandbox["backend"] in ("docker", "local") and sandbox["requested"] == "auto" and sandbox["reason"]
    assert records[1].metadata["sandbox"] == sandbox
    assert summary.sandbox.startswith(sandbox["backend"] + " (") and "sandbox" in summary.table()
    plain, plain_summary = run(OraclePolicy(), n=1)
    assert "sandbox" not in plain[0].metadata and plain_summary.sandbox is None
