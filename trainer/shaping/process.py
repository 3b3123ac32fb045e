"""Process rewards: a `StepScorer` plugin point that scores each agent turn, and a rule-based scorer.

A step scorer is `score(turn, index, previous) -> float`: the process reward of agent turn `index` of an
episode (`previous` holds the earlier turns). Scorers are registered in `STEP_SCORERS`; the one named by
`shaping.process.scorer` runs on every kept episode and its per-turn rewards travel in
`record.metadata["process_rewards"]`, apart from the outcome rewards, for the `hybrid` advantage estimator
(see `hybrid.py`), which normalises the two differently. Shipped scorer, `rules`:

    p_t = -malformed * [turn t was malformed (the env's parse error)]
          -repeat    * [turn t repeats an earlier action of the episode verbatim]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from verigym.agents.records import TurnRecord
from verigym.trainer.registry import AlgorithmRegistry

STEP_SCORERS: AlgorithmRegistry = AlgorithmRegistry("step scorer")


@dataclass
class ProcessConfig:
    """`scorer`: a registered step scorer ("" = no process rewards, the default); the `rules` scorer's
    penalties for a malformed turn and for a verbatim repeat of an earlier action."""

    scorer: str = ""
    malformed: float = 1.0
    repeat: float = 0.5


class StepScorer(Protocol):
    """Scores one agent turn given the episode's earlier turns."""

    def score(self, turn: TurnRecord, index: int, previous: list[TurnRecord]) -> float: ...


@STEP_SCORERS.register("rules")
class RuleStepScorer:
    """Penalises malformed turns and verbatim repeats (the module docstring's p_t)."""

    def __init__(self, config: ProcessConfig) -> None:
        self.config = config

    def score(self, turn: TurnRecord, index: int, previous: list[TurnRecord]) -> float:
        p = -self.config.malformed if turn.malformed else 0.0
        if any(t.action == turn.action for t in previous):
            p -= self.config.repeat
        return p


def build_step_scorer(config: ProcessConfig) -> Any:
    """The configured scorer, or None when `scorer` is empty."""
    return STEP_SCORERS.get(config.scorer)(config) if config.scorer else None


def process_rewards(turns: list[TurnRecord], scorer: StepScorer) -> list[float]:
    """Per-turn process rewards of one episode."""
    return [float(scorer.score(turn, i, turns[:i])) for i, turn in enumerate(turns)]
