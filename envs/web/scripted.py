"""Scripted play on a live web env: the oracle's plan, or a list of actions (tests and benchmarks use it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verigym.envs.web.env import WebEnv


@dataclass
class Played:
    """The observations, rewards and final flags of a scripted run."""

    observations: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> float:
        return sum(self.rewards)


def play(env: WebEnv, actions: list[str], played: Played | None = None) -> Played:
    """Step `env` through `actions` (stopping early if the episode ends)."""
    played = played or Played()
    for action in actions:
        messages, reward, terminated, truncated, info = env.step(action)
        played.observations.append(messages[0]["content"])
        played.rewards.append(reward)
        played.terminated, played.truncated, played.info = terminated, truncated, info
        if terminated or truncated:
            break
    return played


def play_oracle(env: WebEnv, skip_final: bool = False, played: Played | None = None) -> Played:
    """Play the oracle's plan from the current turn (all of it, or all but the final message)."""
    played = played or Played()
    assert env.task is not None
    last = len(env.task.plan) - (1 if skip_final else 0)
    while env.plan_index < last and not (played.terminated or played.truncated):
        play(env, [env.oracle_action()], played)
    return played
