"""The pipelined schedule, typed drop reasons, per-turn rewards and rubric mismatches, on toy envs."""

import threading
import time

import pytest

from verigym.agents.collect import collect
from verigym.agents.policy import Completion
from verigym.agents.records import read_episodes, write_episodes
from verigym.agents.scripted import OraclePolicy
from verigym.envs import SandboxFailure, TurnResult, Verdict, VerifierError
from verigym.envs.rubric import RubricMismatchError


class LoggingPolicy:
    """The oracle, recording which seeds went into each generate call and when."""

    name = "logging"

    def __init__(self, call_s: float = 0.0):
        self.calls: list[tuple[float, list[int]]] = []
        self.call_s = call_s

    def generate(self, requests, sampling):
        self.calls.append((time.perf_counter(), [r.seed for r in requests]))
        time.sleep(self.call_s)
        return [Completion(r.env.oracle_action()) for r in requests]


@pytest.mark.timeout(60)
def test_a_slow_episode_delays_only_itself(echo_env_cls):
    class OneSlow(echo_env_cls):
        def on_turn(self, action):
            time.sleep(1.5 if self.task.seed == 0 else 0.01)
            return super().on_turn(action)

    policy = LoggingPolicy()
    start = time.perf_counter()
    records = collect(OneSlow, policy, list(range(6)), concurrency=3)
    elapsed = time.perf_counter() - start
    assert all(r.success for r in records)
    # the fast episodes (5 x 2 turns) all finish while seed 0 sleeps through its two 1.5 s steps
    fast_done = max(r.duration_s for r in records[1:])
    assert fast_done < 1.5, f"fast episodes waited for the slow one ({fast_done:.2f} s)"
    assert elapsed < 3 * 1.5, f"{elapsed:.2f} s"
    assert not any(0 in seeds and len(seeds) > 1 for _, seeds in policy.calls[2:]), policy.calls

    lockstep = LoggingPolicy()
    start = time.perf_counter()
    collect(OneSlow, lockstep, list(range(6)), concurrency=3, schedule="lockstep")
    assert time.perf_counter() - start > 2 * 1.5  # every round waits for the slowest step


def test_both_schedules_give_identical_records_for_a_scripted_policy(echo_env_cls, tokenizer):
    a = collect(echo_env_cls, OraclePolicy(), list(range(5)), group_size=2, tokenizer=tokenizer, concurrency=3)
    b = collect(echo_env_cls, OraclePolicy(), list(range(5)), group_size=2, tokenizer=tokenizer, concurrency=3,
                schedule="lockstep")
    strip = lambda r: {**r.to_row(), "duration_s": 0.0}  # noqa: E731
    assert [strip(r) for r in a] == [strip(r) for r in b]
    assert [(r.seed, r.group, r.metadata["sample"]) for r in a] == [(s, s, k) for s in range(5) for k in range(2)]


class ServerLikePolicy(LoggingPolicy):
    """A policy whose server batches requests itself: the collector may keep `concurrent_calls` calls in flight.
    Seed 0's generations take `slow_s`; the rest are instant."""

    def __init__(self, concurrent_calls: int, slow_s: float = 0.0):
        super().__init__()
        self.concurrent_calls = concurrent_calls
        self.slow_s = slow_s
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def generate(self, requests, sampling):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.calls.append((time.perf_counter(), [(r.seed, r.sample, r.turn) for r in requests]))
        try:
            if any(r.seed == 0 for r in requests):
                time.sleep(self.slow_s)
            return [Completion(r.env.oracle_action()) for r in requests]
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.mark.timeout(60)
def test_a_slow_generation_delays_only_its_episode_when_the_policy_takes_concurrent_calls(echo_env_cls):
    policy = ServerLikePolicy(concurrent_calls=8, slow_s=1.0)
    records = collect(echo_env_cls, policy, list(range(6)), group_size=2, concurrency=4)
    assert all(r.success for r in records)
    assert all(len(seeds) == 1 for _, seeds in policy.calls), "one request per call"
    assert policy.most_in_flight >= 2, "calls never overlapped"
    # every other episode (5 seeds x 2 samples x 2 turns) finishes while seed 0's calls sleep
    assert max(r.duration_s for r in records if r.seed != 0) < 1.0, [r.duration_s for r in records]
    # each request names its episode and turn, whatever call it was in
    assert sorted(key for _, keys in policy.calls for key in keys) == [(s, k, t) for s in range(6) for k in range(2) for t in range(2)]

    serial = ServerLikePolicy(concurrent_calls=1, slow_s=1.0)  # one call at a time: seed 0's calls stall the rest
    records = collect(echo_env_cls, serial, list(range(6)), group_size=2, concurrency=4)
    assert serial.most_in_flight == 1
    assert max(r.duration_s for r in records if r.seed != 0) >= 1.0


def test_concurrent_calls_give_the_same_records_as_one_call_at_a_time(echo_env_cls, tokenizer):
    a = collect(echo_env_cls, ServerLikePolicy(concurrent_calls=4), list(range(5)), group_size=2, tokenizer=tokenizer, concurrency=3)
    b = collect(echo_env_cls, OraclePolicy(), list(range(5)), group_size=2, tokenizer=tokenizer, concurrency=3)
    strip = lambda r: {**r.to_row(), "duration_s": 0.0, "policy": ""}  # noqa: E731
    assert [strip(r) for r in a] == [strip(r) for r in b]


def test_a_failing_concurrent_call_drops_only_its_episode(echo_env_cls):
    class Flaky(ServerLikePolicy):
        def generate(self, requests, sampling):
            if any(r.seed == 2 and r.turn == 1 for r in requests):
                raise ConnectionError("server went away")
            return super().generate(requests, sampling)

    records = collect(echo_env_cls, Flaky(concurrent_calls=4), list(range(4)), concurrency=4)
    assert [r.drop_reason for r in records] == [None, None, "policy", None]
    assert "server went away" in records[2].error


def test_unknown_schedule_is_refused(echo_env_cls):
    with pytest.raises(ValueError, match="schedule must be one of"):
        collect(echo_env_cls, OraclePolicy(), [0], schedule="eager")


def test_drop_reasons_are_typed(echo_env_cls, tmp_path):
    class Failing(echo_env_cls):
        def on_turn(self, action):
            seed = self.task.seed
            if seed == 1:
                raise VerifierError("checker crashed")
            if seed == 2:
                raise SandboxFailure("the worker vanished")
            if seed == 3:
                raise ZeroDivisionError("env bug")
            return super().on_turn(action)

    class Policy(LoggingPolicy):
        def generate(self, requests, sampling):
            return [Completion("", error="no tokens") if r.seed == 4 else Completion(r.env.oracle_action()) for r in requests]

    records = collect(Failing, Policy(), [0, 1, 2, 3, 4], out=tmp_path / "e.parquet")
    assert [r.drop_reason for r in records] == [None, "verifier", "sandbox", "env", "policy"]
    assert records[2].error.startswith("SandboxFailure: the worker vanished")
    assert [r.drop_reason for r in read_episodes(tmp_path / "e.parquet")] == [None, "verifier", "sandbox", "env", "policy"]


def test_per_turn_rewards_are_recorded_and_summed(echo_env_cls):
    class Shaped(echo_env_cls):
        def on_turn(self, action):
            result = super().on_turn(action)
            if not result.terminated:
                result.reward = 0.25  # e.g. a tool-use bonus
            return result

    (r,) = collect(Shaped, OraclePolicy(), [7])
    assert [t.reward for t in r.turn_records] == [0.25, 1.0]
    assert r.total_reward == pytest.approx(1.25) and r.success


def test_a_verdict_that_disagrees_with_the_rubric_stops_the_run(echo_env_cls):
    class Mismatched(echo_env_cls):
        def on_turn(self, action):
            result = super().on_turn(action)
            if result.terminated:
                return TurnResult(result.messages, terminated=True, verdict=Verdict(True, 1.0, {"corect": 1.0}))
            return result

    with pytest.raises(RubricMismatchError, match=r"\['corect'\].*\['correct'\]"):
        collect(Mismatched, OraclePolicy(), [0, 1])


def test_a_worker_exception_reaches_the_collector_instead_of_hanging(echo_env_cls):
    class Exploding(echo_env_cls):
        def on_turn(self, action):
            raise KeyboardInterrupt  # escapes the episode's own error handling

    done = threading.Event()
    outcome: list[BaseException] = []

    def run():
        try:
            collect(Exploding, OraclePolicy(), [0, 1])
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(20), "the collector hung"
    assert isinstance(outcome[0], KeyboardInterrupt)


def test_schema_1_files_are_still_read(tmp_path, echo_env_cls):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = collect(echo_env_cls, OraclePolicy(), [0, 1])
    records[1].dropped, records[1].error, records[1].drop_reason = True, "VerifierError: boom", "verifier"
    path = write_episodes(tmp_path / "v2.parquet", records)
    table = pq.read_table(path).drop_columns(["group", "drop_reason"])
    table = table.replace_schema_metadata({b"verigym.schema_version": b"1"})
    pq.write_table(table, tmp_path / "v1.parquet")
    old = read_episodes(tmp_path / "v1.parquet")
    assert [(r.group, r.drop_reason) for r in old] == [(0, None), (1, "verifier")]
    assert pa.types.is_int64(pq.read_schema(path).field("group").type)
