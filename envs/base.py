"""`TextEnv`: the Gymnasium base for multi-turn text environments.

A family subclasses `TextEnv` and supplies four things: how to generate a task from a seed, the opening
messages, what one agent turn does (`on_turn`), and the oracle's next action. The base class owns the
episode bookkeeping every family shares: seeding, the turn budget (`truncated`), the rubric (`reward`
and `info["reward_components"]`) and refusing to step a finished episode.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import random

import gymnasium

from verigym.envs.actions import format_answer
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import ChatSpace, Message, action_space
from verigym.envs.task import Task
from verigym.envs.verdict import Verdict

TaskT = TypeVar("TaskT", bound=Task)
MAX_SEED = 2**31 - 1


@dataclass
class EnvConfig:
    """Settings every env accepts; families subclass it to add their own (read from TOML or kwargs)."""

    max_turns: int = 8


@dataclass
class TurnResult:
    """What one agent turn produced.

    `messages` go back to the agent. `verdict` is set when the turn ended the task (`terminated`), and is
    what the rubric scores. `malformed` is the parse error shown to the agent, if any.
    """

    messages: list[Message]
    terminated: bool = False
    verdict: Verdict | None = None
    malformed: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(gymnasium.Env[list[Message], str], Generic[TaskT], metaclass=abc.ABCMeta):
    """A multi-turn text environment: observations are chat messages, actions are assistant text.

    `reset` returns the opening conversation; `step` returns only the new messages the environment adds
    after the action. `terminated` means the task is over (an answer was judged); `truncated` means the turn
    budget ran out first. `info["reward_components"]` carries every rubric component; `reward` is their
    weighted sum, non-zero only on the turn that ends the task.
    """

    env_id: ClassVar[str] = ""
    task_type: ClassVar[type[Task]] = Task
    config_type: ClassVar[type[EnvConfig]] = EnvConfig
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}
    #: A `verigym.sandbox.Requirements` when the env runs agent code in a sandbox (image, tools, GPUs);
    #: the runner then records which backend is in force, and why, in the run summary and every episode.
    sandbox_requirements: ClassVar[Any] = None

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        base = config if config is not None else self.config_type()
        if not isinstance(base, self.config_type):
            raise TypeError(f"{type(self).__name__} takes a {self.config_type.__name__}, got {type(base).__name__}")
        try:
            self.config = dataclasses.replace(base, **overrides)
        except TypeError as exc:
            known = [f.name for f in dataclasses.fields(self.config_type)]
            raise TypeError(f"{self.env_id or type(self).__name__}: {exc}; known settings: {known}") from None
        self.render_mode = render_mode
        self.observation_space = ChatSpace()
        self.action_space = action_space()
        self.rubric: Rubric = self.build_rubric()
        self.task: TaskT | None = None
        self.turn = 0
        self.transcript: list[Message] = []
        self._done = True

    # --- what a family implements -------------------------------------------------------------------
    @abc.abstractmethod
    def build_rubric(self) -> Rubric:
        """The env's reward components (called once per env instance)."""

    @abc.abstractmethod
    def generate_task(self, seed: int) -> TaskT:
        """A task drawn deterministically from `seed` (use `random.Random(seed)`, never the global RNG)."""

    @abc.abstractmethod
    def opening_messages(self, task: TaskT) -> list[Message]:
        """The conversation the agent starts from."""

    @abc.abstractmethod
    def on_turn(self, action: str) -> TurnResult:
        """Apply one agent turn to the current task."""

    @abc.abstractmethod
    def oracle_action(self) -> str:
        """The gold agent's next action given the episode so far (proves the env solvable turn by turn)."""

    def sample_action(self, rng: random.Random) -> str:
        """A well-formed but uninformed action (the `random` baseline); families override with plausible ones."""
        words = ["yes", "no", "0", "1", "42", "P", "L", "x", "unknown"]
        return format_answer(" ".join(rng.choices(words, k=rng.randint(1, 4))))

    def on_reset(self) -> None:
        """Clear per-episode state (budgets, sandbox sessions); called by `reset` after the task is set."""

    # --- the Gymnasium API ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[Message], dict[str, Any]]:
        """Start an episode on `options["task"]` if given, else on the task generated from `seed`."""
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task")
        if task is None:
            task_seed = seed if seed is not None else int(self.np_random.integers(0, MAX_SEED))
            task = self.generate_task(task_seed)
        elif isinstance(task, dict):
            task = self.task_type.from_dict(task)
        elif not isinstance(task, self.task_type):
            raise TypeError(f"options['task'] must be a {self.task_type.__name__}, got {type(task).__name__}")
        self.task = task
        self.turn = 0
        self._done = False
        self.on_reset()
        opening = self.opening_messages(task)
        self.transcript = list(opening)
        return [dict(m) for m in opening], {"task_id": task.task_id, "seed": task.seed}

    def step(self, action: str) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
        """Apply one agent turn. Raises `VerifierError` if the verifier itself fails."""
        if self.task is None or self._done:
            raise RuntimeError(f"{self.env_id}: the episode is over (or never started); call reset() first")
        self.turn += 1
        result = self.on_turn(action)
        self.transcript.append({"role": "assistant", "content": action if isinstance(action, str) else repr(action)})
        self.transcript.extend(result.messages)
        terminated = result.terminated
        truncated = not terminated and self.turn >= self.config.max_turns
        if terminated:
            if result.verdict is None:
                raise RuntimeError(f"{self.env_id}: a terminating turn must carry a verdict")
            reward, components = self.rubric.score(result.verdict)
        else:
            reward, components = 0.0, self.rubric.zeros()
        self._done = terminated or truncated
        info = {
            "reward_components": components,
            "verdict": result.verdict,
            "malformed": result.malformed,
            "turn": self.turn,
            "task_id": self.task.task_id,
            **result.info,
        }
        messages = [dict(m) for m in result.messages]
        if truncated:
            messages.append({"role": "user", "content": f"Turn budget of {self.config.max_turns} used up; episode over."})
        return messages, reward, terminated, truncated, info

    def render(self) -> str | None:
        """The episode so far as plain text (render_mode 'ansi')."""
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.transcript)
