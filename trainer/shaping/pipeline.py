"""`RewardShaping`: runs the configured shapers in order on a step's episodes and rewrites their rewards.

The shaped return of each episode differs from the env's by a delta; the delta is added to the reward of the
episode's last turn (per-turn env rewards are kept, so turn-level estimators still see them), except the parts
a shaper places on given turns (`ShapeResult.turn_deltas`, e.g. `checklist`), and recorded as one reward
component per shaper (`shaping.<name>`, weight 1) so component-wise estimators (`gdpo`) see it too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from verigym.agents.records import EpisodeRecord
from verigym.trainer.shaping.base import Shaper, ShapingContext, episode_view
from verigym.trainer.shaping.checklist import ChecklistConfig
from verigym.trainer.shaping.hapo import HapoConfig
from verigym.trainer.shaping.length_budget import LengthBudgetConfig
from verigym.trainer.shaping.noisy_verifier import NoisyVerifierConfig
from verigym.trainer.shaping.otc import OtcConfig
from verigym.trainer.shaping.process import ProcessConfig, build_step_scorer, process_rewards
from verigym.trainer.shaping.registry import SHAPERS
from verigym.trainer.shaping.rlcr import RlcrConfig
from verigym.trainer.shaping.verpo import VerpoConfig

COMPONENT_PREFIX = "shaping."


@dataclass
class ShapingConfig:
    """`[shaping]`: `methods` run in this order (empty: off, the default), each with its own table.

    `problem_key` says which episodes are the same problem for per-problem histories (`content`: same task
    content whatever the seed; `task_id`); `correct_component` names the rubric component that is the
    verifier's correctness (shapers that rescale correctness use it; success when the env has none).
    """

    methods: list[str] = field(default_factory=list)
    problem_key: str = "content"
    correct_component: str = "correct"
    hapo: HapoConfig = field(default_factory=HapoConfig)
    length_budget: LengthBudgetConfig = field(default_factory=LengthBudgetConfig)
    otc: OtcConfig = field(default_factory=OtcConfig)
    rlcr: RlcrConfig = field(default_factory=RlcrConfig)
    noisy_verifier: NoisyVerifierConfig = field(default_factory=NoisyVerifierConfig)
    verpo: VerpoConfig = field(default_factory=VerpoConfig)
    checklist: ChecklistConfig = field(default_factory=ChecklistConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)

    def check(self) -> None:
        """Raise ValueError naming an unknown or repeated method, or a bad `problem_key`."""
        for name in self.methods:
            if name not in SHAPERS:
                raise ValueError(f"config: shaping.methods names {name!r}; choose from {SHAPERS.names()}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"config: shaping.methods lists a method twice: {self.methods}")
        from verigym.trainer.shaping.process import STEP_SCORERS

        if self.process.scorer and self.process.scorer not in STEP_SCORERS:
            raise ValueError(f"config: shaping.process.scorer {self.process.scorer!r} unknown; choose from {STEP_SCORERS.names()} (or \"\" for none)")
        if self.problem_key not in ("content", "task_id"):
            raise ValueError(f"config: shaping.problem_key must be 'content' or 'task_id', got {self.problem_key!r}")


class RewardShaping:
    """The run's shapers, built once from `ShapingConfig`; `apply` is called once per training step."""

    def __init__(self, config: ShapingConfig, component_weights: dict[str, float] | None = None) -> None:
        config.check()
        self.config = config
        context = ShapingContext(dict(component_weights or {}), config.correct_component)
        self.shapers: list[Shaper] = [SHAPERS.get(name)(getattr(config, name, None), context) for name in config.methods]
        self.step_scorer = build_step_scorer(config.process)

    @property
    def enabled(self) -> bool:
        return bool(self.shapers) or self.step_scorer is not None

    @property
    def component_names(self) -> list[str]:
        """The components shaping adds to each record (one per shaper)."""
        return [COMPONENT_PREFIX + s.name for s in self.shapers]

    def apply(self, records: list[EpisodeRecord], step: int) -> tuple[list[EpisodeRecord], dict[str, float]]:
        """Shaped copies of `records` (the inputs are not modified) and `shaping/<name>/<metric>` metrics; with a
        step scorer, each copy's `metadata["process_rewards"]` holds its per-turn process rewards."""
        if not self.enabled or not records:
            return list(records), {}
        records = list(records)
        metrics: dict[str, float] = {}
        if self.step_scorer is not None:
            per_turn = [process_rewards(r.turn_records, self.step_scorer) for r in records]
            records = [dataclasses.replace(r, metadata={**r.metadata, "process_rewards": p}) for r, p in zip(records, per_turn)]
            flat = [v for p in per_turn for v in p]
            metrics["shaping/process/mean"] = sum(flat) / max(len(flat), 1)
            metrics["shaping/process/nonzero"] = sum(v != 0 for v in flat) / max(len(flat), 1)
        if not self.shapers:
            return records, metrics
        views = [episode_view(r, self.config.problem_key) for r in records]
        rewards = [float(r.total_reward) for r in records]
        deltas: dict[str, list[float]] = {}
        placed: list[dict[int, float]] = [{} for _ in records]
        for shaper in self.shapers:
            result = shaper.shape(views, rewards, step)
            if len(result.rewards) != len(rewards):
                raise RuntimeError(f"reward shaper {shaper.name!r} returned {len(result.rewards)} rewards for {len(rewards)} episodes")
            deltas[shaper.name] = [new - old for new, old in zip(result.rewards, rewards)]
            for i, turn_deltas in enumerate(result.turn_deltas or []):
                for t, d in turn_deltas.items():
                    placed[i][t] = placed[i].get(t, 0.0) + d
            rewards = list(result.rewards)
            metrics.update({f"shaping/{shaper.name}/{k}": float(v) for k, v in result.metrics.items()})
            metrics[f"shaping/{shaper.name}/delta"] = sum(deltas[shaper.name]) / len(records)
        metrics["reward/shaped_mean"] = sum(rewards) / len(records)
        return [_shaped(r, {n: d[i] for n, d in deltas.items()}, placed[i]) for i, r in enumerate(records)], metrics

    def state_dict(self) -> dict[str, Any]:
        """Every shaper's state, by name (JSON-able; stored in the trainer checkpoint)."""
        return {s.name: s.state_dict() for s in self.shapers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for shaper in self.shapers:
            shaper.load_state_dict(state.get(shaper.name, {}))


def _shaped(record: EpisodeRecord, deltas: dict[str, float], placed: dict[int, float]) -> EpisodeRecord:
    total = sum(deltas.values())
    turns = list(record.turn_records)
    if turns:
        placed = {t: d for t, d in placed.items() if 0 <= t < len(turns)}
        for t, d in placed.items():
            turns[t] = dataclasses.replace(turns[t], reward=float(turns[t].reward) + d)
        last = len(turns) - 1
        turns[last] = dataclasses.replace(turns[last], reward=float(turns[last].reward) + total - sum(placed.values()))
    components = {**record.components, **{COMPONENT_PREFIX + n: d for n, d in deltas.items()}}
    return dataclasses.replace(record, turn_records=turns, total_reward=record.total_reward + total, components=components)
