"""The collector: batching, grouping, token-exact episodes, masks, drift reports, truncation, failures."""

import time

import pytest

from verigym.agents.chat_tokens import encode, render
from verigym.agents.collect import collect
from verigym.agents.policy import Completion, SamplingParams
from verigym.agents.records import read_episodes
from verigym.agents.scripted import GarbagePolicy, OraclePolicy
from verigym.envs import format_answer


class CountingPolicy:
    """Wraps a policy and records the batch size of every generate call."""

    name = "counting"

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def generate(self, requests, sampling):
        self.batches.append(len(requests))
        return self.inner.generate(requests, sampling)


class SampledPolicy:
    """A fake model policy: answers wrong with token ids + logprobs, as a model policy would."""

    name = "sampled"

    def __init__(self, tokenizer, end=True):
        self.tokenizer, self.end = tokenizer, end

    def generate(self, requests, sampling):
        out = []
        for r in requests:
            assert r.prompt_token_ids is not None  # token-in: the collector passes the episode's ids
            text = "<think>hm</think>" + format_answer("nope")
            ids = encode(self.tokenizer, text) + ([self.tokenizer.eos_token_id] if self.end else [])
            out.append(Completion(text, ids, [-0.5] * len(ids), "stop" if self.end else "length"))
        return out


def test_oracle_episodes_are_token_exact_with_masks_and_turn_index(echo_env_cls, tokenizer, tmp_path):
    records = collect(echo_env_cls, OraclePolicy(), [3, 4], group_size=2, tokenizer=tokenizer, out=tmp_path / "e.parquet")
    assert [(r.seed, r.metadata["sample"]) for r in records] == [(3, 0), (3, 1), (4, 0), (4, 1)]
    assert [r.metadata["group"] for r in records] == [3, 3, 4, 4]
    for r in records:
        assert r.success and r.turns == 2 and not r.dropped
        fresh = encode(tokenizer, render(tokenizer, r.messages, add_generation_prompt=False))
        assert r.token_ids == fresh
        assert r.metadata["token_drift"]["equal"] is True
        assert len(r.token_ids) == len(r.loss_mask) == len(r.logprobs) == len(r.turn_index)
        prompt = render(tokenizer, r.messages[:2], add_generation_prompt=True)
        assert r.metadata["prompt_len"] == len(encode(tokenizer, prompt))
        assert set(r.loss_mask[: r.metadata["prompt_len"]]) == {0}
        for turn, action in enumerate(t.action for t in r.turn_records):
            span = [tid for tid, k in zip(r.token_ids, r.turn_index) if k == turn]
            assert tokenizer.decode(span) == action + "<|im_end|>"
        assert [m for m, k in zip(r.loss_mask, r.turn_index) if k >= 0] == [1] * sum(r.loss_mask)
    assert read_episodes(tmp_path / "e.parquet") == records


def test_model_style_completions_keep_sampled_ids_and_logprobs(echo_env_cls, tokenizer):
    (r,) = collect(echo_env_cls, SampledPolicy(tokenizer), [1])
    assert r.turns == 1 and r.terminated and not r.success
    sampled = r.turn_records[0].completion_token_ids
    start = r.metadata["prompt_len"]
    assert r.token_ids[start : start + len(sampled)] == sampled and sampled[-1] == tokenizer.eos_token_id
    assert r.logprobs[start : start + len(sampled)] == [-0.5] * len(sampled)
    assert sum(r.loss_mask) == len(sampled) and all(lp == 0.0 for lp, m in zip(r.logprobs, r.loss_mask) if not m)
    assert r.metadata["token_drift"]["equal"]


def test_a_cut_off_completion_gets_its_end_of_turn_added_unmasked(echo_env_cls, tokenizer):
    (r,) = collect(echo_env_cls, SampledPolicy(tokenizer, end=False), [1])
    end = r.metadata["prompt_len"] + len(r.turn_records[0].completion_token_ids)
    assert r.token_ids[end] == tokenizer.eos_token_id and r.loss_mask[end] == 0
    assert r.metadata["token_drift"]["equal"]


def test_template_drift_is_reported_not_hidden(echo_env_cls, tokenizer):
    class Rewriting:
        """A template that drops <think> blocks from earlier assistant turns (not append-only)."""

        def __getattr__(self, name):
            return getattr(tokenizer, name)

        def __call__(self, *a, **k):
            return tokenizer(*a, **k)

        def apply_chat_template(self, messages, **kw):
            last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
            cleaned = [dict(m, content=m["content"].replace("<think>hm</think>", "")) if m["role"] == "assistant" and i < last else m
                       for i, m in enumerate(messages)]
            if cleaned and cleaned[-1]["role"] != "assistant" and last >= 0:
                cleaned = [dict(m, content=m["content"].replace("<think>hm</think>", "")) if m["role"] == "assistant" else m for m in cleaned]
            return tokenizer.apply_chat_template(cleaned, **kw)

    class Thinking(SampledPolicy):
        def generate(self, requests, sampling):
            text = "<think>hm</think><tool_call>{\"name\": \"peek\", \"arguments\": {}}</tool_call>"
            ids = encode(tokenizer, text) + [tokenizer.eos_token_id]
            return [Completion(text, ids, [0.0] * len(ids)) for _ in requests]

    (r,) = collect(echo_env_cls, Thinking(tokenizer), [1], max_turns=2, tokenizer=Rewriting())
    drift = r.metadata["token_drift"]
    assert not drift["equal"] and not drift["template_prefix_ok"] and drift["first_mismatch"] is not None
    assert "append-only" in drift["detail"]


def test_lockstep_each_round_is_one_batched_call_of_all_live_episodes(echo_env_cls):
    policy = CountingPolicy(OraclePolicy())
    records = collect(echo_env_cls, policy, list(range(6)), group_size=2, concurrency=8, schedule="lockstep")
    assert len(records) == 12 and all(r.success for r in records)
    assert policy.batches == [8, 8, 4, 4]  # 8 live episodes x 2 turns, then the last 4 x 2 turns


def test_env_steps_overlap_in_threads(echo_env_cls):
    class Slow(echo_env_cls):
        step_sleep_s = 0.2

    start = time.perf_counter()
    records = collect(Slow, OraclePolicy(), list(range(8)), concurrency=8)
    elapsed = time.perf_counter() - start
    assert all(r.success for r in records)
    assert elapsed < 8 * 2 * 0.2 / 2, f"8 episodes x 2 steps of 0.2 s took {elapsed:.2f} s: steps did not overlap"


def test_python_only_envs_step_without_a_thread_per_episode(echo_env_cls):
    import threading

    from verigym.agents.collect import env_step_threads
    from verigym.plugins.registry import make

    class PythonOnly(echo_env_cls):
        steps_outside_python = False
        threads: set[str] = set()

        def on_turn(self, action):
            PythonOnly.threads.add(threading.current_thread().name)
            return super().on_turn(action)

    assert env_step_threads(PythonOnly(), 64, "lockstep") == 0 and env_step_threads(PythonOnly(), 64, "pipelined") == 1
    assert env_step_threads(echo_env_cls(), 64, "lockstep") == 64  # says it steps outside Python
    assert env_step_threads(object(), 300, "lockstep") == 256  # an env that does not say: threads, capped
    assert env_step_threads(make("copy-digits-v0"), 64, "lockstep") == 0  # undeclared TextEnv without sandbox
    assert env_step_threads(make("code-python-v0"), 64, "lockstep") == 64  # sandboxed
    assert env_step_threads(make("sql-v0"), 64, "lockstep") == 64  # SQLite releases the GIL

    records = collect(PythonOnly, OraclePolicy(), list(range(6)), group_size=2, concurrency=8, schedule="lockstep")
    assert len(records) == 12 and all(r.success for r in records)
    assert PythonOnly.threads == {threading.current_thread().name}  # stepped inline, in the collector's thread
    PythonOnly.threads.clear()
    records = collect(PythonOnly, OraclePolicy(), list(range(6)), group_size=2, concurrency=8)
    assert all(r.success for r in records) and len(PythonOnly.threads) == 1  # pipelined: one env thread
    assert next(iter(PythonOnly.threads)).startswith("env-step")
    with pytest.raises(ValueError, match="env_workers must be >= 0"):
        collect(PythonOnly, OraclePolicy(), [0], env_workers=-1)


def test_max_episode_tokens_truncates_instead_of_crashing(echo_env_cls, tokenizer):
    (full,) = collect(echo_env_cls, OraclePolicy(), [2], tokenizer=tokenizer)
    limit = full.metadata["prompt_len"] + 5
    (r,) = collect(echo_env_cls, OraclePolicy(), [2], tokenizer=tokenizer, max_episode_tokens=limit)
    assert r.truncated and not r.dropped and r.metadata["truncated_by"] == "max_episode_tokens"
    assert len(r.token_ids) == len(r.loss_mask) == len(r.logprobs) == limit
    assert r.token_ids == full.token_ids[:limit]


def test_one_failing_request_errors_only_its_episode(echo_env_cls):
    class PartlyBroken:
        name = "partly-broken"

        def generate(self, requests, sampling):
            return [Completion("", error="server said no") if r.seed == 1 else Completion(r.env.oracle_action()) for r in requests]

    class RaisingForOne:
        name = "raising"

        def generate(self, requests, sampling):
            if any(r.seed == 2 for r in requests):
                raise ConnectionError("seed 2 broke the batch")
            return [Completion(r.env.oracle_action()) for r in requests]

    records = collect(echo_env_cls, PartlyBroken(), [0, 1, 2])
    assert [r.dropped for r in records] == [False, True, False]
    assert records[1].error == "PolicyError: server said no"
    records = collect(echo_env_cls, RaisingForOne(), [0, 1, 2, 3])
    assert [r.dropped for r in records] == [False, False, True, False]
    assert "seed 2 broke the batch" in records[2].error and "ConnectionError" in records[2].metadata["traceback"]


def test_bad_arguments_are_refused(echo_env_cls):
    with pytest.raises(ValueError, match="group_size"):
        collect(echo_env_cls, OraclePolicy(), [0], group_size=0)
    with pytest.raises(LookupError, match="no environment named"):
        collect("no-such-env-v0", OraclePolicy(), [0])


def test_garbage_never_crashes_and_is_tokenized(echo_env_cls, tokenizer):
    records = collect(echo_env_cls, GarbagePolicy(), list(range(5)), tokenizer=tokenizer, max_turns=3)
    assert not any(r.dropped for r in records)
    assert all(r.turns == 3 and r.truncated and len(r.token_ids) == len(r.loss_mask) for r in records)


def test_beam_statics_oracle_is_token_exact(tokenizer):
    records = collect("beam-statics-v0", OraclePolicy(), list(range(4)), tokenizer=tokenizer)
    assert all(r.success and r.metadata["token_drift"]["equal"] for r in records)
    assert all(r.turns >= 2 for r in records)


def test_every_env_is_closed_when_its_episode_ends(echo_env_cls):
    closed = []

    class Closing(echo_env_cls):
        def close(self):
            closed.append(self.task.seed if self.task else None)
            if self.task and self.task.seed == 1:
                raise OSError("sandbox already gone")

    records = collect(Closing, OraclePolicy(), [0, 1, 2])
    assert sorted(s for s in closed if s is not None) == [0, 1, 2] and closed.count(None) == 1  # + the probe env
    assert records[1].metadata["close_error"] == "OSError: sandbox already gone" and records[1].success
