"""`collect`: play grouped multi-turn episodes with one batched policy call per turn, token-exact.

Up to `concurrency` episodes are live at once. Each round, every live episode's next prompt goes into a
single `policy.generate` call; then every env steps in a thread pool (so env and sandbox time overlap),
finished episodes leave and queued ones start. With a tokenizer (the policy's `.tokenizer`, or passed in),
each record carries the whole episode as token ids with a loss mask, rollout logprobs and a per-token
turn index; the prompt of every turn after the first is the previous ids plus the sampled ids plus the
chat template's delta, never a re-tokenization (see `verigym.agents.chat_tokens`).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from verigym.agents.chat_tokens import encode, eos_ids, measure_drift, prompt_ids, turn_delta
from verigym.agents.policy import Completion, GenerationRequest, Policy, SamplingParams
from verigym.agents.records import EpisodeRecord, EpisodeWriter, TurnRecord
from verigym.envs.spaces import Message
from verigym.envs.verdict import VerifierError
from verigym.plugins.registry import make

EnvFactory = Callable[[], Any]


class PolicyError(RuntimeError):
    """The policy failed to produce a completion for an episode (the episode is marked errored)."""


@dataclass
class _Episode:
    """One live episode: its env, the conversation so far and the token arrays being accumulated."""

    index: int
    seed: int
    sample: int
    env: Any
    record: EpisodeRecord
    start: float
    conversation: list[Message] = field(default_factory=list)
    ids: list[int] | None = None
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turn_index: list[int] = field(default_factory=list)
    prefix_ok: bool = True
    drift_detail: str = ""
    done: bool = False


def collect(
    env: str | EnvFactory,
    policy: Policy,
    seeds: Sequence[int],
    *,
    group_size: int = 1,
    max_turns: int | None = None,
    concurrency: int = 8,
    sampling: SamplingParams = SamplingParams(),
    env_kwargs: dict[str, Any] | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    tokenizer: Any = None,
    max_episode_tokens: int | None = None,
    env_workers: int | None = None,
    env_id: str | None = None,
    close_envs: bool = True,
) -> list[EpisodeRecord]:
    """Play `group_size` episodes on each task seed; records come back in (seed, sample) order.

    `env` is a registered env id or a zero-argument factory. `max_turns` overrides the env's turn budget.
    `tokenizer` defaults to `policy.tokenizer`; without one, records carry text only. `max_episode_tokens`
    (default: the policy's `max_model_len`, if it has one) caps an episode's total length: an episode that
    would exceed it stops with `truncated=True` and `metadata["truncated_by"] = "max_episode_tokens"`.
    Episode failures never raise: a `VerifierError` drops the episode (error starts with "VerifierError"),
    any other failure marks it dropped with the error and a traceback in `metadata["traceback"]`.
    Each episode's env is closed when the episode ends (releasing sandbox sessions) unless `close_envs=False`.
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    env_kwargs = dict(env_kwargs or {})
    factory: EnvFactory = (lambda: make(env, **env_kwargs)) if isinstance(env, str) else env
    probe = factory()
    name = env_id or (env if isinstance(env, str) else getattr(probe, "env_id", "") or type(probe).__name__)
    component_names = list(probe.rubric.names)
    sandbox = sandbox_metadata(probe)
    if close_envs:
        _close(probe)
    tokenizer = tokenizer if tokenizer is not None else getattr(policy, "tokenizer", None)
    if max_episode_tokens is None:
        max_episode_tokens = getattr(policy, "max_model_len", None)
    eos = eos_ids(tokenizer) if tokenizer is not None else set()
    policy_name = getattr(policy, "name", type(policy).__name__)

    jobs = deque((i, seed, sample) for i, (seed, sample) in enumerate((s, g) for s in seeds for g in range(group_size)))
    results: list[EpisodeRecord | None] = [None] * len(jobs)
    writer = EpisodeWriter(out, component_names) if out else None
    written = 0
    live: list[_Episode] = []
    workers = env_workers or min(32, concurrency)

    def start(job: tuple[int, int, int]) -> _Episode:
        index, seed, sample = job
        record = EpisodeRecord(env_id=name, task_id="", seed=seed, policy=policy_name)
        record.metadata.update({"group": seed, "sample": sample})
        if sandbox:
            record.metadata["sandbox"] = sandbox
        episode = _Episode(index, seed, sample, None, record, time.perf_counter())
        try:
            episode.env = factory()
            if max_turns is not None:
                episode.env.config = dataclasses.replace(episode.env.config, max_turns=max_turns)
            messages, info = episode.env.reset(seed=seed)
            record.task_id = info["task_id"]
            record.task_json = episode.env.task.to_json()
            record.components = episode.env.rubric.zeros()
            episode.conversation = list(messages)
            if tokenizer is not None:
                episode.ids = prompt_ids(tokenizer, episode.conversation)
                n = len(episode.ids)
                episode.mask, episode.logprobs, episode.turn_index = [0] * n, [0.0] * n, [-1] * n
                record.metadata["prompt_len"] = n
                _check_budget(episode, max_episode_tokens)
        except Exception as exc:  # noqa: BLE001 - recorded on the episode
            _fail(episode, exc)
        return episode

    def step(episode: _Episode, outcome: Completion | BaseException) -> _Episode:
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome.error:
                raise PolicyError(outcome.error)
            _apply_turn(episode, outcome, tokenizer, eos, max_episode_tokens)
        except Exception as exc:  # noqa: BLE001 - recorded on the episode
            _fail(episode, exc)
        return episode

    bar = tqdm(total=len(jobs), desc=f"{name} x {policy_name}", disable=not progress, unit="ep")
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            while jobs or live:
                admitted = [jobs.popleft() for _ in range(min(len(jobs), concurrency - len(live)))]
                live.extend(pool.map(start, admitted))
                playing = [e for e in live if not e.done]
                if playing:
                    requests = [
                        GenerationRequest(
                            messages=list(e.conversation),
                            prompt_token_ids=list(e.ids) if e.ids is not None else None,
                            env=e.env,
                            seed=e.seed,
                            max_tokens=_budget(e, sampling, max_episode_tokens),
                        )
                        for e in playing
                    ]
                    outcomes = _generate(policy, requests, sampling)
                    list(pool.map(step, playing, outcomes))
                for e in [e for e in live if e.done]:
                    results[e.index] = _finish(e, tokenizer)
                    if close_envs and e.env is not None:
                        error = _close(e.env)
                        if error:
                            results[e.index].metadata["close_error"] = error  # type: ignore[union-attr]
                    bar.update()
                live = [e for e in live if not e.done]
                while writer and written < len(results) and results[written] is not None:
                    writer.write(results[written])  # type: ignore[arg-type]
                    written += 1
    except BaseException:
        if writer:
            writer.abort()
        if close_envs:
            for e in live:
                if e.env is not None:
                    _close(e.env)
        raise
    finally:
        bar.close()
    if writer:
        writer.close()
    return [r for r in results if r is not None]


def sandbox_metadata(env: Any) -> dict[str, Any] | None:
    """Which sandbox backend is in force for `env`, and why (None for envs that run no agent code)."""
    requirements = getattr(env, "sandbox_requirements", None)
    if requirements is None:
        return None
    from verigym.sandbox.choose import backend_summary

    backend = getattr(getattr(env, "config", None), "sandbox", "auto")
    return backend_summary(backend if isinstance(backend, str) else "auto", requirements)


def _generate(policy: Policy, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion | BaseException]:
    """One batched call; if it raises, each request is retried alone so one bad request fails alone."""
    try:
        completions = list(policy.generate(requests, sampling))
        if len(completions) != len(requests):
            raise PolicyError(f"policy returned {len(completions)} completions for {len(requests)} requests")
        return list(completions)
    except Exception as exc:  # noqa: BLE001
        if len(requests) == 1:
            return [exc]
        first_error = exc
    outcomes: list[Completion | BaseException] = []
    for request in requests:
        try:
            (completion,) = policy.generate([request], sampling)
            outcomes.append(completion)
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc if str(exc) else first_error)
    return outcomes


def _budget(episode: _Episode, sampling: SamplingParams, max_episode_tokens: int | None) -> int | None:
    if max_episode_tokens is None or episode.ids is None:
        return None
    return max(1, min(sampling.max_tokens, max_episode_tokens - len(episode.ids)))


def _check_budget(episode: _Episode, max_episode_tokens: int | None) -> None:
    """Stop (truncated) an episode whose ids reached the token budget, cutting the arrays to it."""
    if max_episode_tokens is None or episode.ids is None or len(episode.ids) < max_episode_tokens:
        return
    del episode.ids[max_episode_tokens:], episode.mask[max_episode_tokens:]
    del episode.logprobs[max_episode_tokens:], episode.turn_index[max_episode_tokens:]
    episode.record.truncated = True
    episode.record.metadata["truncated_by"] = "max_episode_tokens"
    episode.done = True


def _apply_turn(episode: _Episode, completion: Completion, tokenizer: Any, eos: set[int], max_episode_tokens: int | None) -> None:
    """Step the env with the completion and extend the conversation, the turn records and the token arrays."""
    record = episode.record
    text = completion.text if isinstance(completion.text, str) else ""
    observation, reward, terminated, truncated, info = episode.env.step(text)
    turn = len(record.turn_records)
    record.turn_records.append(
        TurnRecord(
            action=text,
            observation=observation,
            reward=float(reward),
            malformed=info.get("malformed"),
            completion_token_ids=completion.token_ids,
            completion_logprobs=completion.logprobs,
            finish_reason=completion.finish_reason,
        )
    )
    record.total_reward += float(reward)
    history = episode.conversation
    episode.conversation = history + [{"role": "assistant", "content": text}] + list(observation)
    over = terminated or truncated
    if over:
        record.terminated, record.truncated = bool(terminated), bool(truncated)
        record.components = dict(info["reward_components"])
        verdict = info.get("verdict")
        record.success = bool(terminated and verdict is not None and verdict.passed)
        episode.done = True
    if tokenizer is None or episode.ids is None:
        return
    sampled = completion.token_ids
    if sampled is None:  # a text-only policy (scripted): its turn as the template would tokenize it, ended
        sampled = encode(tokenizer, text) + [tokenizer.eos_token_id]
        logprobs = [0.0] * len(sampled)
        record.metadata["logprobs_known"] = False
    else:
        sampled = list(sampled)
        logprobs = list(completion.logprobs) if completion.logprobs is not None else [0.0] * len(sampled)
        if len(logprobs) != len(sampled):
            raise PolicyError(f"the policy returned {len(sampled)} token ids but {len(logprobs)} logprobs")
    end_text = tokenizer.convert_ids_to_tokens(sampled[-1]) if sampled and sampled[-1] in eos else None
    delta = turn_delta(tokenizer, history, text, end_text, list(observation), add_generation_prompt=not over)
    if not delta.prefix_ok:
        episode.prefix_ok = False
        episode.drift_detail = delta.detail
    episode.ids += sampled + delta.ids
    episode.mask += [1] * len(sampled) + [0] * len(delta.ids)
    episode.logprobs += logprobs + [0.0] * len(delta.ids)
    episode.turn_index += [turn] * len(sampled) + [-1] * len(delta.ids)
    if not over:
        _check_budget(episode, max_episode_tokens)


def _close(env: Any) -> str | None:
    """Close an env, returning the error text instead of raising (a failed cleanup must not stop the run)."""
    try:
        env.close()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def _fail(episode: _Episode, exc: BaseException) -> None:
    record = episode.record
    record.dropped = True
    if isinstance(exc, VerifierError):
        record.error = f"VerifierError: {exc}"
    else:
        record.error = f"{type(exc).__name__}: {exc}"
        record.metadata["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
    episode.done = True


def _finish(episode: _Episode, tokenizer: Any) -> EpisodeRecord:
    record = episode.record
    record.turns = len(record.turn_records)
    record.messages = episode.conversation
    if episode.ids is not None:
        record.token_ids, record.loss_mask = episode.ids, episode.mask
        record.logprobs, record.turn_index = episode.logprobs, episode.turn_index
        if not record.dropped and not record.metadata.get("truncated_by"):
            ended = record.terminated or record.truncated
            drift = measure_drift(
                tokenizer, episode.ids, episode.mask, episode.conversation, not ended, episode.prefix_ok, episode.drift_detail
            )
            record.metadata["token_drift"] = drift.to_dict()
    record.duration_s = time.perf_counter() - episode.start
    return record
