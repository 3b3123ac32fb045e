"""What a verifier returns, and the one way a verifier may fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one answer.

    `components` maps each named check to a value in [0, 1]; `score` is the verifier's own summary (the
    env's rubric turns components into the reward). `details` is free-form, JSON-serialisable evidence.
    """

    passed: bool
    score: float
    components: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class VerifierError(RuntimeError):
    """The verifier itself failed (crash, missing tool, broken sandbox), so the answer cannot be judged.

    The episode runner drops such samples and counts them; it never scores them 0.
    """
