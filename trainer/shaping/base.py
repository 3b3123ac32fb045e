"""What every reward shaper sees and returns, and the per-episode facts read from episode records.

A shaper is a small stateful object: `shape(episodes, rewards, step)` takes the episodes of one training step
(as `EpisodeView`s) and their current returns, and returns new returns plus metrics. Shapers run in the
configured order, each on the previous one's output; state that must outlive a step (per-problem histories)
comes back from `state_dict()` and is stored in the trainer checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from verigym.agents.records import EpisodeRecord

_TOOL_CALL = re.compile(r"<tool_call>")


@dataclass(frozen=True)
class EpisodeView:
    """The facts shapers need about one scored episode.

    `problem`: the key of its problem across steps (see `problem_key`); `correct`: the verifier's binary
    outcome (`record.success`); `length`: policy tokens of the episode (sum of the loss mask; characters of the
    agent's actions when the record has no tokens); `tool_calls`: agent turns holding a `<tool_call>`;
    `final_action`: the agent's last action (where a stated confidence is read); `components`: the rubric's;
    `per_test`: pass (1) / fail (0) per hidden test when the verifier reports them (`metadata["per_test"]`);
    `checklist`: agent turn index -> that turn's (name, passed, weight) criteria when the env declares them
    (`metadata["checklist"]`, from `TurnResult.info["checklist"]`); `turns`: agent turns played.
    """

    problem: str
    group: Any
    correct: bool
    length: int
    tool_calls: int
    final_action: str
    components: dict[str, float] = field(default_factory=dict)
    reward: float = 0.0
    per_test: tuple[int, ...] | None = None
    checklist: dict[int, tuple[tuple[str, bool, float], ...]] = field(default_factory=dict)
    turns: int = 0


def problem_key(record: EpisodeRecord, mode: str = "content") -> str:
    """The problem an episode was played on. `content`: a hash of the task without its seed and id (two seeds
    that generate the same task are one problem, so per-problem histories fill even on a seed stream);
    `task_id`: the task's id (a finite dataset whose ids repeat across epochs)."""
    if mode == "task_id":
        return record.task_id or str(record.seed)
    if mode != "content":
        raise ValueError(f"shaping.problem_key must be 'content' or 'task_id', got {mode!r}")
    try:
        task = json.loads(record.task_json or "{}")
    except json.JSONDecodeError:
        task = {}
    if not isinstance(task, dict) or not task:
        return record.task_id or str(record.seed)
    task = {k: v for k, v in task.items() if k not in ("seed", "task_id")}
    blob = json.dumps([record.env_id, task], sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def episode_view(record: EpisodeRecord, key_mode: str = "content") -> EpisodeView:
    """An `EpisodeView` of a scored record."""
    actions = [t.action or "" for t in record.turn_records]
    if record.loss_mask:
        length = int(sum(record.loss_mask))
    else:
        length = sum(len(a) for a in actions)
    return EpisodeView(
        problem=problem_key(record, key_mode),
        group=record.group if record.group is not None else record.seed,
        correct=bool(record.success),
        length=length,
        tool_calls=sum(1 for a in actions if _TOOL_CALL.search(a)),
        final_action=actions[-1] if actions else "",
        components=dict(record.components),
        reward=float(record.total_reward),
        per_test=tuple(int(x) for x in record.metadata["per_test"]) if isinstance(record.metadata.get("per_test"), list) else None,
        checklist=_checklist(record.metadata.get("checklist")),
        turns=len(record.turn_records),
    )


def _checklist(raw: Any) -> dict[int, tuple[tuple[str, bool, float], ...]]:
    if not isinstance(raw, dict):
        return {}
    return {
        int(turn): tuple((str(c["name"]), bool(c["passed"]), float(c.get("weight", 1.0))) for c in criteria)
        for turn, criteria in raw.items()
        if criteria
    }


@dataclass
class ShapeResult:
    """New per-episode returns (same order as the input) and metrics (logged as `shaping/<name>/<key>`).

    `turn_deltas`, optional, places part of each episode's change on given turns ({turn index: delta}); the
    rest of the change goes to the last turn, as for shapers that give none."""

    rewards: list[float]
    metrics: dict[str, float] = field(default_factory=dict)
    turn_deltas: list[dict[int, float]] | None = None


@dataclass(frozen=True)
class ShapingContext:
    """What a shaper may read about the run: the rubric weights and which component is the correctness one."""

    component_weights: dict[str, float] = field(default_factory=dict)
    correct_component: str = "correct"

    def correctness(self, ep: EpisodeView) -> tuple[float, float]:
        """(weight, value) of the correctness part of an episode's reward: the rubric's `correct_component`
        when the env has one, else (1, success)."""
        name = self.correct_component
        if name in self.component_weights and name in ep.components:
            return float(self.component_weights[name]), float(ep.components[name])
        return 1.0, float(ep.correct)


class Shaper(Protocol):
    """A reward-shaping method (registered in `SHAPERS`)."""

    name: str

    def shape(self, episodes: list[EpisodeView], rewards: list[float], step: int) -> ShapeResult: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Stateless:
    """For shapers that keep nothing between steps: an empty checkpoint state."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


def mean(values: list[float], empty: float = 0.0) -> float:
    """The mean; `empty` for an empty list (NaN for metrics that are undefined then: logged as null)."""
    return sum(values) / len(values) if values else empty
