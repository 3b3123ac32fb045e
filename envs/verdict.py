"""What a verifier returns, and the one way a verifier may fail."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class DropReason(enum.StrEnum):
    """Why an episode was dropped (not scored): the `drop_reason` column of episode records."""

    VERIFIER = "verifier"  # the verifier itself failed
    SANDBOX = "sandbox"  # the sandbox or the grading harness failed (not the agent's code)
    POLICY = "policy"  # the policy produced no completion
    ENV = "env"  # the env raised (a bug, or bad task data)
    BUDGET = "budget"  # a run-level budget (time) ended the episode before it could be scored
    WORKER = "worker"  # the remote env worker (a Ray actor) running the episode was lost, and its retry too


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

    reason: DropReason = DropReason.VERIFIER


class SandboxFailure(VerifierError):
    """The sandbox or the grading harness failed (backend gone, `sandbox_error`, lost worker, the harness's
    own deadline): our fault, not the agent's, so the episode is dropped with reason `sandbox`."""

    reason = DropReason.SANDBOX
