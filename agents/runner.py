"""The episode runner: plays a policy against an env for N seeded episodes, concurrently (via `collect`).

Each episode gets its own env instance (envs are not thread-safe) and the seed `seed + index`, so a run
is reproducible episode by episode. A `VerifierError` (the verifier, the sandbox or the grading harness
failed) drops the episode (counted by reason, never scored 0); any other failure (policy, server, env bug)
marks the episode errored with the reason and the run goes on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verigym.agents.collect import collect
from verigym.agents.policy import Policy, SamplingParams
from verigym.agents.records import EpisodeRecord
from verigym.envs.base import TextEnv


def run_episode(env: TextEnv, policy: Policy, seed: int, sampling: SamplingParams | None = None, env_id: str | None = None) -> EpisodeRecord:
    """Play one episode of `policy` on `env` from `reset(seed=seed)`; never raises for episode failures."""
    (record,) = collect(lambda: env, policy, [seed], concurrency=1, sampling=sampling or SamplingParams(),
                        env_id=env_id or env.env_id, close_envs=False)
    return record


@dataclass
class RunSummary:
    """Aggregate figures of a run; dropped episodes are excluded from every mean and counted by reason."""

    env_id: str
    policy: str
    episodes: int
    scored: int
    mean_reward: float
    success_rate: float
    mean_turns: float
    components: dict[str, float]
    episodes_per_s: float
    dropped: dict[str, int] = field(default_factory=dict)
    out: str | None = None
    sandbox: str | None = None

    @property
    def dropped_verifier(self) -> int:
        """Episodes dropped because grading itself failed (the verifier, the sandbox, the harness or its worker)."""
        return self.dropped.get("verifier", 0) + self.dropped.get("sandbox", 0) + self.dropped.get("worker", 0)

    @property
    def errored(self) -> int:
        """Episodes dropped for any other reason (the policy, an env bug, a run budget)."""
        return sum(self.dropped.values()) - self.dropped_verifier

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
        ]
        rows += [(f"  dropped: {reason}", str(n)) for reason, n in sorted(self.dropped.items())]
        rows.append(("episodes/s", f"{self.episodes_per_s:.1f}"))
        if self.sandbox:
            rows.append(("sandbox", self.sandbox))
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
        dropped=dict(Counter(r.drop_reason or "env" for r in records if r.dropped)),
        mean_reward=sum(r.total_reward for r in scored) / n,
        success_rate=sum(r.success for r in scored) / n,
        mean_turns=sum(r.turns for r in scored) / n,
        components={k: sum(r.components.get(k, 0.0) for r in scored) / n for k in names},
        episodes_per_s=len(records) / elapsed_s if elapsed_s > 0 else float("inf"),
        out=out,
        sandbox=_sandbox_line(records),
    )


def _sandbox_line(records: list[EpisodeRecord]) -> str | None:
    """`docker (why)` / `local (why)` from the episodes' sandbox metadata, if the env used a sandbox."""
    sandbox = next((r.metadata["sandbox"] for r in records if "sandbox" in r.metadata), None)
    if not sandbox:
        return None
    isolation = f"; {sandbox['isolation']}" if sandbox.get("isolation") else ""
    return f"{sandbox['backend']} ({sandbox['reason']}{isolation})"


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
    sandbox: Any = None,
    schedule: str = "pipelined",
    tokenizer: Any = None,
    workers: Any = None,
) -> tuple[list[EpisodeRecord], RunSummary]:
    """Run `n` episodes (seeds `seed`..`seed+n-1`), `concurrency` at a time (see `collect` for `schedule`
    and `sandbox`: a backend name, `SandboxSettings` or `SandboxProviders`); stream them to `out` if given.
    `tokenizer` (default: the policy's) gives text-only policies such as `oracle` token ids and loss masks,
    so their episodes can be used for SFT (`verigym sft`). `workers` (`RayEnvWorkers`) runs the envs on Ray
    actors (then `sandbox` must be None: each worker has its own providers)."""
    start = time.perf_counter()
    records = collect(
        env_factory or env_id,
        policy,
        list(range(seed, seed + n)),
        concurrency=concurrency,
        sampling=sampling or SamplingParams(),
        env_kwargs=env_kwargs,
        out=out,
        progress=progress,
        env_id=env_id,
        sandbox=sandbox,
        schedule=schedule,
        tokenizer=tokenizer,
        workers=workers,
    )
    return records, summarize(records, env_id, policy.name, time.perf_counter() - start, str(out) if out else None)
