"""`collect`: play grouped multi-turn episodes against a policy, batched, pipelined and token-exact.

Up to `concurrency` episodes are live at once. Two schedules (`schedule=`):

- `pipelined` (the default): an episode whose env step finishes is queued for generation at once; the
  collector sends every queued episode's prompt in one `policy.generate` call while env steps (and sandbox
  work) run in a worker pool, so a slow episode delays only itself. Which episodes share a generate call
  depends on timing, so a policy that samples a batch from one random stream (vLLM on CPU, HF) may sample
  different tokens from run to run; scripted and greedy policies are unaffected. A policy that declares
  `concurrent_calls = K > 1` (a server that batches requests itself: `OpenAIPolicy`) gets one call per
  episode turn, up to K in flight, so no episode waits for a call it is not in.
- `lockstep`: every round, all live episodes go into one generate call, then every env steps, then the next
  round starts. Batch composition depends only on the seeds, so sampled runs replay exactly (the trainer uses
  it by default for bit-exact resume). It costs the sum of generation and env time instead of their maximum.

With a tokenizer (the policy's `.tokenizer`, or passed in), each record carries the whole episode as token
ids with a loss mask, rollout logprobs and a per-token turn index; the prompt of every turn after the first is
the previous ids plus the sampled ids plus the chat template's delta, never a re-tokenization (see
`verigym.agents.chat_tokens`). Envs that declare `sandbox_requirements` get their sessions from one
`SandboxProviders` per run (see `verigym.sandbox.provider`).
"""

from __future__ import annotations

import dataclasses
import queue
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from verigym.agents.chat_tokens import encode, eos_ids, measure_drift, prompt_ids_and_text, turn_delta
from verigym.agents.policy import Completion, GenerationRequest, Policy, SamplingParams
from verigym.agents.records import EpisodeRecord, EpisodeWriter, TurnRecord
from verigym.envs.base import sandbox_failures
from verigym.envs.rubric import RubricMismatchError
from verigym.envs.spaces import Message
from verigym.envs.verdict import DropReason, VerifierError
from verigym.plugins.registry import make

EnvFactory = Callable[[], Any]
SCHEDULES = ("pipelined", "lockstep")


class PolicyError(RuntimeError):
    """The policy failed to produce a completion for an episode (the episode is dropped, reason `policy`)."""


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
    rendered: str | None = None  # the conversation so far as the chat template renders it (reused next turn)
    done: bool = False
    fatal: BaseException | None = None


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
    schedule: str = "pipelined",
    sandbox: Any = None,
    component_names: Sequence[str] | None = None,
    workers: Any = None,
) -> list[EpisodeRecord]:
    """Play `group_size` episodes on each task seed; records come back in (seed, sample) order.

    `env` is a registered env id or a zero-argument factory. `max_turns` overrides the env's turn budget
    (passed to the env as its `max_turns` setting, the budget's one owner). `tokenizer` defaults to
    `policy.tokenizer`; without one, records carry text only. `max_episode_tokens` (default: the policy's
    `max_model_len`, if it has one) caps an episode's total length: an episode that would exceed it stops
    with `truncated=True` and `metadata["truncated_by"] = "max_episode_tokens"`. `schedule` is `pipelined`
    or `lockstep` (see the module docstring). `sandbox` is a backend name, a `SandboxSettings` or a
    `SandboxProviders` the caller owns (default: `auto`); it is used only by envs that declare
    `sandbox_requirements`. `component_names` (the rubric's, read once by the caller) saves building a probe env.
    `env_workers` threads run env resets and steps (default: `env_step_threads`; 0 runs them in the
    collector's thread). `workers` (a `verigym.agents.ray_workers.RayEnvWorkers`) runs the envs on Ray actors instead of in this
    process, each actor with its own sandbox providers (so `sandbox` must then be left out).
    Episode failures never raise: a `VerifierError` drops the episode with its typed reason (`verifier`,
    `sandbox`, `worker`), a policy failure with `policy`, anything else with `env` and a traceback in
    `metadata["traceback"]`. A `RubricMismatchError` (a bug in the env) stops the run. Each episode's env is
    closed when the episode ends (releasing its sandbox session) unless `close_envs=False`.
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    env_kwargs = dict(env_kwargs or {})
    if max_turns is not None:
        env_kwargs["max_turns"] = max_turns
    if workers is not None:
        if sandbox is not None:
            raise ValueError("with workers=, envs use each worker's own sandbox providers: pass the sandbox setting to "
                             "RayEnvWorkers(sandbox=...) and leave collect's sandbox out")
        factory: EnvFactory = workers.env_factory(env, env_kwargs)
    else:
        factory = env_factory(env, env_kwargs)
    name = env_id or (env if isinstance(env, str) else "")
    if component_names is None or not name or env_workers is None:
        probe = factory()
        name = name or getattr(probe, "env_id", "") or type(probe).__name__
        component_names = list(probe.rubric.names) if component_names is None else component_names
        if env_workers is None:
            env_workers = env_step_threads(probe, concurrency, schedule)
        if close_envs:
            _close(probe)
    if env_workers < 0:
        raise ValueError(f"env_workers must be >= 0 (0: step envs in the collector's thread), got {env_workers}")
    providers, own_providers = _sandbox_providers(sandbox, concurrency)
    tokenizer = tokenizer if tokenizer is not None else getattr(policy, "tokenizer", None)
    if max_episode_tokens is None:
        max_episode_tokens = getattr(policy, "max_model_len", None)
    eos = eos_ids(tokenizer) if tokenizer is not None else set()
    policy_name = getattr(policy, "name", type(policy).__name__)

    jobs = deque((i, seed, sample) for i, (seed, sample) in enumerate((s, g) for s in seeds for g in range(group_size)))
    results: list[EpisodeRecord | None] = [None] * len(jobs)
    writer = EpisodeWriter(out, list(component_names)) if out else None
    bar = tqdm(total=len(jobs), desc=f"{name} x {policy_name}", disable=not progress, unit="ep")
    written = 0
    live: dict[int, _Episode] = {}
    generator: ThreadPoolExecutor | None = None

    def start(job: tuple[int, int, int]) -> _Episode:
        index, seed, sample = job
        record = EpisodeRecord(env_id=name, task_id="", seed=seed, policy=policy_name, group=seed)
        record.metadata.update({"group": seed, "sample": sample})
        episode = _Episode(index, seed, sample, None, record, time.perf_counter())
        try:
            episode.env = factory()
            if getattr(episode.env, "sandbox_requirements", None) is not None:
                episode.env.use_sandboxes(providers)
                with sandbox_failures():
                    record.metadata["sandbox"] = _sandbox_metadata(episode.env)
            messages, info = episode.env.reset(seed=seed)
            record.task_id = info["task_id"]
            record.task_json = episode.env.task.to_json()
            record.components = episode.env.rubric.zeros()
            episode.conversation = list(messages)
            if tokenizer is not None:
                episode.ids, episode.rendered = opening_prompt(episode.conversation)
                n = len(episode.ids)
                episode.mask, episode.logprobs, episode.turn_index = [0] * n, [0.0] * n, [-1] * n
                record.metadata["prompt_len"] = n
                _check_budget(episode, max_episode_tokens)
        except Exception as exc:  # noqa: BLE001 - recorded on the episode
            _fail(episode, exc)
        return episode

    prompts: dict[tuple[tuple[tuple[str, str], ...], ...], tuple[tuple[int, ...], str]] = {}

    def opening_prompt(messages: list[Message]) -> tuple[list[int], str]:
        """`prompt_ids_and_text`, rendered once per distinct opening (a group's samples share theirs)."""
        key = tuple(tuple(sorted(m.items())) for m in messages)  # every field the template may render
        if key not in prompts:
            ids, text = prompt_ids_and_text(tokenizer, messages)
            prompts[key] = (tuple(ids), text)
        ids, text = prompts[key]
        return list(ids), text

    def step(episode: _Episode, outcome: Completion | BaseException) -> _Episode:
        if isinstance(outcome, BaseException) or outcome.error:
            error = outcome if isinstance(outcome, BaseException) else PolicyError(outcome.error)
            _fail(episode, error, reason=DropReason.POLICY)
            return episode
        try:
            _apply_turn(episode, outcome, tokenizer, eos, max_episode_tokens)
        except Exception as exc:  # noqa: BLE001 - recorded on the episode
            _fail(episode, exc)
        return episode

    def request(e: _Episode) -> GenerationRequest:
        return GenerationRequest(
            messages=list(e.conversation),
            prompt_token_ids=list(e.ids) if e.ids is not None else None,
            env=e.env,
            seed=e.seed,
            max_tokens=_budget(e, sampling, max_episode_tokens),
            sample=e.sample,
            turn=len(e.record.turn_records),
        )

    def retire(e: _Episode) -> None:
        nonlocal written
        if e.fatal is not None:
            raise e.fatal
        live.pop(e.index, None)
        results[e.index] = record = _finish(e, tokenizer)
        record.metadata.update(getattr(e.env, "worker_metadata", None) or {})  # remote envs: a worker retry
        if close_envs and e.env is not None:
            error = _close(e.env)
            if error:
                record.metadata["close_error"] = error
        bar.update()
        while writer and written < len(results) and results[written] is not None:
            writer.write(results[written])  # type: ignore[arg-type]
            written += 1

    try:
        with ThreadPoolExecutor(max_workers=env_workers, thread_name_prefix="env-step") if env_workers else InlineExecutor() as pool:
            if schedule == "lockstep":
                while jobs or live:
                    admitted = [jobs.popleft() for _ in range(min(len(jobs), concurrency - len(live)))]
                    for e in pool.map(start, admitted):
                        live[e.index] = e
                    playing = [e for e in live.values() if not e.done]
                    if playing:
                        outcomes = _generate(policy, [request(e) for e in playing], sampling)
                        list(pool.map(step, playing, outcomes))
                    for e in [e for e in live.values() if e.done]:
                        retire(e)
            else:
                ready: queue.Queue[_Episode | BaseException] = queue.Queue()
                calls = concurrent_calls(policy)
                if calls > 1:
                    generator = ThreadPoolExecutor(max_workers=calls, thread_name_prefix="generate")

                def play_turn(e: _Episode) -> None:
                    """Concurrent calls: generate this episode's turn alone, then step its env in the env pool,
                    then its next turn, off the collector's loop; only finished episodes go back to the loop."""
                    try:
                        (outcome,) = _generate(policy, [request(e)], sampling)
                        pool.submit(step_then_play, e, outcome)
                    except BaseException as exc:  # noqa: BLE001 - re-raised by the collector's loop
                        ready.put(exc)

                def step_then_play(e: _Episode, outcome: Completion | BaseException) -> None:
                    try:
                        if step(e, outcome).done:
                            ready.put(e)
                        else:
                            generator.submit(play_turn, e)  # type: ignore[union-attr]
                    except BaseException as exc:  # noqa: BLE001 - re-raised by the collector's loop
                        ready.put(exc)

                def admit() -> None:
                    while jobs and len(live) < concurrency:
                        job = jobs.popleft()
                        placeholder = _Episode(job[0], job[1], job[2], None, None, 0.0)  # type: ignore[arg-type]
                        live[job[0]] = placeholder
                        pool.submit(_report, ready, start, job)

                admit()
                while live:
                    batch = _gather(ready)
                    playing = []
                    for e in batch:
                        if isinstance(e, BaseException):
                            raise e
                        live[e.index] = e
                        if e.done:
                            retire(e)
                        else:
                            playing.append(e)
                    admit()
                    if playing and generator is not None:  # one request per call: each episode goes on alone
                        for e in playing:
                            generator.submit(play_turn, e)
                    elif playing:
                        outcomes = _generate(policy, [request(e) for e in playing], sampling)
                        for e, outcome in zip(playing, outcomes):
                            pool.submit(_report, ready, step, e, outcome)
    except BaseException:
        if generator is not None:
            generator.shutdown(wait=True, cancel_futures=True)
        if writer:
            writer.abort()
        if close_envs:
            for e in live.values():
                if e.env is not None:
                    _close(e.env)
        raise
    finally:
        if generator is not None:
            generator.shutdown(wait=True)
        bar.close()
        if own_providers and providers is not None:
            providers.close()
    if writer:
        writer.close()
    return [r for r in results if r is not None]


def _gather(ready: queue.Queue) -> list[Any]:
    """Every episode ready for generation: wait for the first, then take whatever else is queued.

    Greedy on purpose: waiting for stragglers to fill a bigger batch leaves the policy idle, and a discrete-
    event model of this loop (fixed + per-sequence call cost, seeded step times) gave longer wall times for
    every wait tried, from 5 ms up to the call's fixed cost."""
    batch = [ready.get()]
    while True:
        try:
            batch.append(ready.get_nowait())
        except queue.Empty:
            return batch


def env_factory(env: str | EnvFactory, env_kwargs: dict[str, Any]) -> EnvFactory:
    """A zero-argument factory for `env` (a registered id or a factory) with `env_kwargs` applied."""
    if isinstance(env, str):
        return lambda: make(env, **env_kwargs)
    return _configured(env, env_kwargs) if env_kwargs else env


def _configured(factory: EnvFactory, settings: dict[str, Any]) -> EnvFactory:
    """A factory whose envs get `settings` applied to their config (the config stays the settings' one owner)."""

    def build() -> Any:
        env = factory()
        env.config = dataclasses.replace(env.config, **settings)
        return env

    return build


def env_step_threads(env: Any, concurrency: int, schedule: str) -> int:
    """Threads that run env resets and steps: one per live episode (up to 256) when `env` steps outside Python
    (`TextEnv.steps_outside_python`, by default the sandboxed envs) or does not say (a Ray proxy, an adapter);
    otherwise none in lockstep (steps run in the collector's thread: nothing to overlap with, and threads only
    contend for the GIL) and one when pipelined (steps overlap generation, which releases the GIL)."""
    outside = getattr(env, "steps_outside_python", True)
    if outside is None:
        outside = getattr(env, "sandbox_requirements", None) is not None
    if outside:
        return min(256, concurrency)
    return 0 if schedule == "lockstep" else 1


class InlineExecutor(Executor):
    """An executor that runs each submitted call at once in the caller's thread (`env_workers=0`)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the future, as a pool would
            future.set_exception(exc)
        return future


def concurrent_calls(policy: Policy) -> int:
    """How many generate calls the pipelined schedule may have in flight: the policy's `concurrent_calls`
    (servers that batch requests themselves, e.g. `OpenAIPolicy`), else 1 (in-process engines)."""
    return max(1, int(getattr(policy, "concurrent_calls", 1) or 1))


def _report(ready: queue.Queue, fn: Callable[..., _Episode], *args: Any) -> None:
    """Run `fn` in a worker and hand its episode back to the collector's queue; an exception that escapes
    `fn` (start/step record ordinary failures themselves) goes to the queue too, so the collector never hangs."""
    try:
        ready.put(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - re-raised by the collector's loop
        ready.put(exc)


def _sandbox_providers(sandbox: Any, concurrency: int) -> tuple[Any, bool]:
    """(providers, owned): the caller's `SandboxProviders`, or new ones (closed at the end) for a name/settings."""
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings

    if isinstance(sandbox, SandboxProviders):
        return sandbox, False
    if sandbox is None:
        settings = SandboxSettings()
    elif isinstance(sandbox, str):
        settings = SandboxSettings(backend=sandbox)
    elif isinstance(sandbox, SandboxSettings):
        settings = sandbox
    else:
        raise TypeError(f"sandbox must be a backend name, SandboxSettings or SandboxProviders, got {type(sandbox).__name__}")
    return SandboxProviders(settings, pool_size=concurrency), True  # no backend starts until an env asks


def _sandbox_metadata(env: Any) -> dict[str, Any]:
    """Which sandbox backend is in force for `env`'s sessions, and why."""
    return env.sandbox_provider().metadata()


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
    if info.get("checklist"):  # per-turn binary criteria the env declared, for the `checklist` shaper
        record.metadata.setdefault("checklist", {})[str(turn)] = [dict(c) for c in info["checklist"]]
    history = episode.conversation
    episode.conversation = history + [{"role": "assistant", "content": text}] + list(observation)
    over = terminated or truncated
    if over:
        record.terminated, record.truncated = bool(terminated), bool(truncated)
        record.components = dict(info["reward_components"])
        verdict = info.get("verdict")
        record.success = bool(terminated and verdict is not None and verdict.passed)
        if verdict is not None and isinstance(verdict.details.get("per_test"), list):  # per-test outcomes, for shaping
            record.metadata["per_test"] = [int(bool(x)) for x in verdict.details["per_test"]]
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
    delta = turn_delta(tokenizer, history, text, end_text, list(observation), add_generation_prompt=not over, prompt_text=episode.rendered)
    episode.rendered = delta.rendered
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


def _fail(episode: _Episode, exc: BaseException, reason: DropReason | None = None) -> None:
    """Mark the episode dropped with a typed reason (`reason`, else the error's own, else `env`)."""
    if isinstance(exc, RubricMismatchError):
        episode.fatal = exc  # a bug in the env: stop the run rather than drop every episode
    record = episode.record
    record.dropped = True
    if isinstance(exc, VerifierError):
        record.drop_reason = str(exc.reason)
        record.error = f"{type(exc).__name__}: {exc}"
    else:
        record.drop_reason = str(reason or (DropReason.POLICY if isinstance(exc, PolicyError) else DropReason.ENV))
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
                tokenizer, episode.ids, episode.mask, episode.conversation, not ended, episode.prefix_ok, episode.drift_detail,
                rendered=episode.rendered,
            )
            record.metadata["token_drift"] = drift.to_dict()
    record.duration_s = time.perf_counter() - episode.start
    return record
