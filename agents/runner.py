"""The episode runner: plays a policy against an env for N seeded episodes, concurrently.

Each episode gets its own env instance (envs are not thread-safe) and the seed `seed + index`, so a run
is reproducible episode by episode. A `VerifierError` drops the episode (counted, never scored 0); any
other failure (policy, server, env bug) marks the episode errored with the reason and the run goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from verigym.agents.policy import GenerationRequest, Policy, SamplingParams
from verigym.agents.records import EpisodeRecord, EpisodeWriter, TurnRecord
from verigym.envs.base import TextEnv
from verigym.envs.verdict import VerifierError
from verigym.plugins.registry import make


def run_episode(env: TextEnv, policy: Policy, seed: int, sampling: SamplingParams | None = None, env_id: str | None = None) -> EpisodeRecord:
    """Play one episode of `policy` on `env` from `reset(seed=seed)`; never raises for episode failures."""
    sampling = sampling or SamplingParams()
    start = time.perf_counter()
    record = EpisodeRecord(env_id=env_id or env.env_id, task_id="", seed=seed, policy=policy.name)
    try:
        messages, info = env.reset(seed=seed)
        record.task_id = info["task_id"]
        record.task_json = env.task.to_json()
        record.components = env.rubric.zeros()
        conversation = list(messages)
        while True:
            request = GenerationRequest(messages=list(conversation), env=env, seed=seed)
            (completion,) = policy.generate([request], sampling)
            observation, reward, terminated, truncated, info = env.step(completion.text)
            conversation.append({"role": "assistant", "content": completion.text})
            conversation.extend(observation)
            record.turn_records.append(
                TurnRecord(
                    action=completion.text,
                    observation=observation,
                    reward=reward,
                    malformed=info.get("malformed"),
                    completion_token_ids=completion.token_ids,
                    completion_logprobs=completion.logprobs,
                    finish_reason=completion.finish_reason,
                )
            )
            record.total_reward += reward
            if terminated or truncated:
                record.terminated, record.truncated = terminated, truncated
                record.components = dict(info["reward_components"])
                verdict = info.get("verdict")
                record.success = bool(terminated and verdict is not None and verdict.passed)
                break
        record.messages = conversation
    except VerifierError as exc:
        record.dropped, record.error = True, f"VerifierError: {exc}"
    except Exception as exc:  # noqa: BLE001 - an episode's failure is recorded, the run goes on
        record.dropped = True
        record.error = f"{type(exc).__name__}: {exc}"
        record.metadata["traceback"] = traceback.format_exc(limit=8)
    record.turns = len(record.turn_records)
    record.duration_s = time.perf_counter() - start
    return record


@dataclass
class RunSummary:
    """Aggregate figures of a run; dropped episodes are excluded from every mean and counted apart."""

    env_id: str
    policy: str
    episodes: int
    scored: int
    dropped_verifier: int
    errored: int
    mean_reward: float
    success_rate: float
    mean_turns: float
    components: dict[str, float]
    episodes_per_s: float
    out: str | None = None

    def table(self) -> str:
        """A plain-text table for the terminal."""
        rows: list[tuple[str, str]] = [
            ("env", self.env_id),
            ("policy", self.policy),
            ("episodes", str(self.episodes)),
            ("mean reward", f"{self.mean_reward:.3f}"),
            ("success rate", f"{self.success_rate:.3f}"),
            ("mean turns", f"{self.mean_turns:.2f}"),
        ]
        rows += [(f"component {name}", f"{value:.3f}") for name, value in self.components.items()]
        rows += [
            ("dropped (verifier error)", str(self.dropped_verifier)),
            ("errored (agent/env)", str(self.errored)),
            ("episodes/s", f"{self.episodes_per_s:.1f}"),
        ]
        if self.out:
            rows.append(("written to", self.out))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def summarize(records: list[EpisodeRecord], env_id: str, policy: str, elapsed_s: float, out: str | None = None) -> RunSummary:
    """Summary statistics of a list of episode records."""
    scored = [r for r in records if not r.dropped]
    n = max(len(scored), 1)
    names = list(scored[0].components) if scored else []
    return RunSummary(
        env_id=env_id,
        policy=policy,
        episodes=len(records),
        scored=len(scored),
        dropped_verifier=sum(1 for r in records if r.dropped and (r.error or "").startswith("VerifierError")),
        errored=sum(1 for r in records if r.dropped and not (r.error or "").startswith("VerifierError")),
        mean_reward=sum(r.total_reward for r in scored) / n,
        success_rate=sum(r.success for r in scored) / n,
        mean_turns=sum(r.turns for r in scored) / n,
        components={k: sum(r.components.get(k, 0.0) for r in scored) / n for k in names},
        episodes_per_s=len(records) / elapsed_s if elapsed_s > 0 else float("inf"),
        out=out,
    )


def run_episodes(
    env_id: str,
    policy: Policy,
    n: int,
    seed: int = 0,
    concurrency: int = 4,
    out: str | Path | None = None,
    sampling: SamplingParams | None = None,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    env_factory: Callable[[], TextEnv] | None = None,
) -> tuple[list[EpisodeRecord], RunSummary]:
    """Run `n` episodes (seeds `seed`..`seed+n-1`) with a thread pool; stream them to `out` if given."""
    env_kwargs = env_kwargs or {}
    factory = env_factory or (lambda: make(env_id, **env_kwargs))
    component_names = factory().rubric.names
    writer = EpisodeWriter(out, component_names) if out else None
    records: list[EpisodeRecord | None] = [None] * n
    start = time.perf_counter()

    def play(index: int) -> tuple[int, EpisodeRecord]:
        return index, run_episode(factory(), policy, seed + index, sampling, env_id=env_id)

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool, tqdm(
            total=n, desc=f"{env_id} x {policy.name}", disable=not progress, unit="ep"
        ) as bar:
            for index, record in pool.map(play, range(n)):
                records[index] = record
                if writer:
                    writer.write(record)
                bar.update()
    except BaseException:
        if writer:
            writer.abort()
        raise
    if writer:
        writer.close()
    done = [r for r in records if r is not None]
    return done, summarize(done, env_id, policy.name, time.perf_counter() - start, str(out) if out else None)
