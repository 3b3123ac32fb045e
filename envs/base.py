"""`TextEnv`: the Gymnasium base for multi-turn text environments.

A family subclasses `TextEnv` and supplies four things: how to generate a task from a seed, the opening
messages, what one agent turn does (`on_turn`), and the oracle's next action. The base class owns the
episode bookkeeping every family shares: seeding, the turn budget (`truncated`), the rubric (`reward`
and `info["reward_components"]`), refusing to step a finished episode, and, for families that declare
`sandbox_requirements`, the sandbox lifecycle:

- `self.sandbox` is a fresh session for this episode, acquired before `on_reset` from the providers the
  runner attached (`use_sandboxes`), or from `default_providers()` for a bare env; it is released when the
  next episode starts or the env is closed, and never reused.
- `with self.grading_session() as s:` is a second fresh session, for grading only (never the agent's).
- A failure of the sandbox or the grading harness (`SandboxError`, a `sandbox_error` result) surfaces as
  `SandboxFailure` (a `VerifierError`): the episode is dropped with reason `sandbox`, never scored 0. What the
  agent's own code does (timeout, oom, crash, output flood) is an ordinary result for the family to score.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import random

import gymnasium

from verigym.envs.actions import format_answer
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import ChatSpace, Message, action_space
from verigym.envs.task import Task
from verigym.envs.task_split import check_split, draw_in_split
from verigym.envs.verdict import SandboxFailure, Verdict

TaskT = TypeVar("TaskT", bound=Task)
MAX_SEED = 2**31 - 1


@dataclass
class EnvConfig:
    """Settings every env accepts; families subclass it to add their own (read from TOML or kwargs).

    `split` "train" or "eval" keeps only the tasks whose content hashes into that part of the task space
    (`eval_fraction` of it is eval; see `envs/task_split.py`): evaluation on "eval" then never meets a task
    trained on under "train", however small the space. "all" (default) plays every task of the seeds.
    """

    max_turns: int = 8
    split: str = "all"
    eval_fraction: float = 0.1


@dataclass
class TurnResult:
    """What one agent turn produced.

    `messages` go back to the agent. `verdict` is set when the turn ended the task (`terminated`), and is
    what the rubric scores. `malformed` is the parse error shown to the agent, if any. `reward` is an optional
    per-turn reward (tool-use shaping, a process reward) added to the step's reward on any turn.
    `info["checklist"]`, when set, lists the turn's binary criteria, each `{"name": str, "passed": bool,
    "evidence": str}` (optional `"weight"`, default 1): recorded per turn in `metadata["checklist"]` and turned
    into per-turn rewards by the `checklist` reward shaper (CM2-style).
    """

    messages: list[Message]
    terminated: bool = False
    verdict: Verdict | None = None
    malformed: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    reward: float | None = None


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
    #: A `verigym.sandbox.Requirements` when the env runs agent code in a sandbox (image, tools, GPUs):
    #: every episode then gets `self.sandbox`, and the runner records which backend is in force, and why.
    sandbox_requirements: ClassVar[Any] = None
    #: The `verigym.sandbox.Limits` of the episode's session (None: the sandbox defaults).
    sandbox_limits: ClassVar[Any] = None
    #: Whether `reset`/`step` spend their time outside the Python interpreter (a sandbox, a browser, a
    #: database engine): collectors then step each live episode in its own thread so the waits overlap. Steps
    #: that compute in Python run in one thread (the GIL serialises them; 64 threads cost more than they
    #: overlap). None: True when the env declares `sandbox_requirements`.
    steps_outside_python: ClassVar[bool | None] = None
    _action_space: Any = None  # built by the `action_space` property on first read

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        base = config if config is not None else self.config_type()
        if not isinstance(base, self.config_type):
            raise TypeError(f"{type(self).__name__} takes a {self.config_type.__name__}, got {type(base).__name__}")
        try:
            self.config = dataclasses.replace(base, **overrides)
        except TypeError as exc:
            known = [f.name for f in dataclasses.fields(self.config_type)]
            raise TypeError(f"{self.env_id or type(self).__name__}: {exc}; known settings: {known}") from None
        check_split(self.config.split, self.config.eval_fraction)
        self.render_mode = render_mode
        self.observation_space = ChatSpace()
        self.rubric: Rubric = self.build_rubric()
        self.task: TaskT | None = None
        self.turn = 0
        self.transcript: list[Message] = []
        self._done = True
        self._providers: Any = None
        self._session: Any = None

    @property
    def action_space(self) -> Any:
        """Free text (`verigym.envs.spaces.action_space`), built on first use: a gymnasium `Text` space costs
        more to build than a copy-digits step, and collectors never read it."""
        if self._action_space is None:
            self._action_space = action_space()
        return self._action_space

    @action_space.setter
    def action_space(self, space: Any) -> None:
        self._action_space = space

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
        """Clear per-episode state (budgets); called by `reset` after the task is set and the sandbox acquired."""

    def truncation_verdict(self) -> Verdict | None:
        """The verdict scored when the turn budget runs out before a terminating turn (default: none, so every
        component is 0). A family whose costs accrue during the episode returns them here, so running out
        the clock is never cheaper than answering."""
        return None

    # --- sandboxes (families that declare `sandbox_requirements`) -------------------------------------
    def use_sandboxes(self, providers: Any) -> None:
        """Take sessions from `providers` (a `verigym.sandbox.SandboxProviders`) instead of the default ones."""
        self._release_session()
        self._providers = providers

    def sandbox_provider(self, limits: Any = None) -> Any:
        """The provider this env's sessions come from (for `limits`, default `sandbox_limits`)."""
        if self.sandbox_requirements is None:
            raise RuntimeError(f"{self.env_id}: this env declares no sandbox_requirements, so it has no sandbox")
        if self._providers is None:
            from verigym.sandbox.provider import default_providers

            self._providers = default_providers()
        return self._providers.provider(self.sandbox_requirements, limits or self.sandbox_limits)

    @property
    def sandbox(self) -> Any:
        """This episode's own sandbox session (the agent's tools run here)."""
        if self._session is None:
            raise RuntimeError(f"{self.env_id}: no sandbox session; call reset() first")
        return self._session

    @contextlib.contextmanager
    def grading_session(self, limits: Any = None) -> Iterator[Any]:
        """A fresh session for grading, never the agent's; destroyed when the block ends."""
        with sandbox_failures():
            provider = self.sandbox_provider(limits)
            with provider.session() as session:
                yield session

    def _acquire_session(self) -> None:
        with sandbox_failures():
            self._session = self.sandbox_provider().acquire()

    def _release_session(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._providers is not None:
            self._providers.provider(self.sandbox_requirements, self.sandbox_limits).release(session)

    def close(self) -> None:
        """Release this episode's sandbox session (idempotent)."""
        self._release_session()
        super().close()

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
            task = draw_in_split(self.generate_task, task_seed, self.config.split, self.config.eval_fraction, MAX_SEED)
        elif isinstance(task, dict):
            task = self.task_type.from_dict(task)
        elif not isinstance(task, self.task_type):
            raise TypeError(f"options['task'] must be a {self.task_type.__name__}, got {type(task).__name__}")
        self.task = task
        self.turn = 0
        self._done = False
        if self.sandbox_requirements is not None:
            self._release_session()
            self._acquire_session()
        self.on_reset()
        opening = self.opening_messages(task)
        self.transcript = list(opening)
        return [dict(m) for m in opening], {"task_id": task.task_id, "seed": task.seed}

    def step(self, action: str) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
        """Apply one agent turn. Raises `VerifierError` if the verifier itself fails."""
        if self.task is None or self._done:
            raise RuntimeError(f"{self.env_id}: the episode is over (or never started); call reset() first")
        self.turn += 1
        with sandbox_failures():
            result = self.on_turn(action)
        self.transcript.append({"role": "assistant", "content": action if isinstance(action, str) else repr(action)})
        self.transcript.extend(result.messages)
        terminated = result.terminated
        truncated = not terminated and self.turn >= self.config.max_turns
        verdict = result.verdict
        if terminated and verdict is None:
            raise RuntimeError(f"{self.env_id}: a terminating turn must carry a verdict")
        if truncated:
            verdict = self.truncation_verdict()
        if (terminated or truncated) and verdict is not None:
            reward, components = self.rubric.score(verdict)
        else:
            reward, components = 0.0, self.rubric.zeros()
        if result.reward is not None:
            reward += float(result.reward)
        self._done = terminated or truncated
        info = {
            "reward_components": components,
            "verdict": verdict,
            "malformed": result.malformed,
            "turn": self.turn,
            "turn_reward": result.reward,
            "task_id": self.task.task_id,
            **result.info,
        }
        messages = [dict(m) for m in result.messages]
        if truncated:
            scored = f" Scored as it stands: {reward:+.3f}." if verdict is not None else ""
            messages.append(
                {"role": "user", "content": f"Turn budget of {self.config.max_turns} used up; episode over.{scored}"}
            )
        return messages, reward, terminated, truncated, info

    def render(self) -> str | None:
        """The episode so far as plain text (render_mode 'ansi')."""
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.transcript)


@contextlib.contextmanager
def sandbox_failures() -> Iterator[None]:
    """Turn a failure of the sandbox layer itself into `SandboxFailure` (the episode is dropped, reason `sandbox`)."""
    from verigym.sandbox.errors import PathRefusedError, SandboxError

    try:
        yield
    except (SandboxFailure, PathRefusedError):
        raise
    except SandboxError as exc:
        raise SandboxFailure(f"{type(exc).__name__}: {exc}") from exc


def harness_result(result: Any) -> Any:
    """`result` unchanged, unless the sandbox reported it could not run the command (`sandbox_error`):
    then `SandboxFailure`. Use it on every result of harness (not agent) commands."""
    from verigym.sandbox.records import Status

    if result.status is Status.SANDBOX_ERROR:
        raise SandboxFailure(f"the sandbox failed to run the harness: {result.detail or result.stderr[-500:]}")
    return result
