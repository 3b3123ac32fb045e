"""`beam-statics-v0`: find the support reactions of a loaded beam, exactly, with a budgeted `check` tool."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.beam_statics.answer import FORCE, MOMENT, AnswerError, parse_check_arguments
from verigym.envs.beam_statics.expression import format_monomial
from verigym.envs.beam_statics.generator import DEFAULT_LENGTHS, generate_task, select_categories
from verigym.envs.beam_statics.ground_truth import gold_reactions, imbalance
from verigym.envs.beam_statics.prompt import CHECK_POINTS, PROMPT_STYLES, describe, system_prompt, terse_describe, terse_system_prompt
from verigym.envs.beam_statics.task import BeamTask, is_moment
from verigym.envs.beam_statics.verifier import WEIGHTS, show, verify
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message

TOOLS = ("check",)
ORACLES = ("check-gold", "check-zeros", "check-forces", "answer")


@dataclass
class BeamStaticsConfig(EnvConfig):
    """Settings of `beam-statics-v0`.

    `categories` / `exclude_categories` select tasks by category (`overhang/point`), layout (`overhang`)
    or loading (`udl`); empty `categories` means all. `lengths` bounds the beam length in units of L.
    `max_checks` is the `check` tool budget per episode. `cross_check` also solves every task with sympy's
    Beam at reset (slow) and raises VerifierError if the two ground truths disagree. `max_loads` caps the
    number of loads per beam (None: the loading's full range; an easier curriculum for small models).
    `oracle` is the scripted oracle's strategy (`oracle_action`; it never changes what the agent sees or
    how it is scored). It checks, then answers the gold reactions; the check proposes the gold reactions
    (`check-gold`), every reaction at 0 (`check-zeros`: the check reports the loads' own net force and
    moment about x = 0, minus the reactions when the only support is at x = 0), or the gold forces with
    every moment at 0 (`check-forces`: the net moment is minus the reaction moment). `answer` answers at
    once. `check-zeros` and `check-forces` are strategies a small model can imitate by copying numbers.
    `prompt` is the wording the agent sees: `full` (default) or `terse` (the same rules, beam and check
    reply in a few short lines, about a third of the tokens; for small models). Scoring is the same.
    `check_about` is the point the check takes its net moment about: `origin` (x = 0, default) or `A` (the
    first support: there a cantilever's reactions are exactly minus the check's numbers for all-zero ones).
    """

    max_turns: int = 6
    max_checks: int = 2
    categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    lengths: tuple[int, int] = DEFAULT_LENGTHS
    cross_check: bool = False
    max_loads: int | None = None
    oracle: str = "check-gold"
    prompt: str = "full"
    check_about: str = "origin"

    def __post_init__(self) -> None:
        self.categories = _names(self.categories, "categories")
        self.exclude_categories = _names(self.exclude_categories, "exclude_categories")
        self.lengths = tuple(self.lengths)  # type: ignore[assignment]
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.max_checks < 0:
            raise ValueError(f"max_checks must be 0 or more, got {self.max_checks}")
        if len(self.lengths) != 2 or not 2 <= self.lengths[0] <= self.lengths[1]:
            raise ValueError(f"lengths must be (min, max) with 2 <= min <= max, got {self.lengths}")
        if self.max_loads is not None and self.max_loads < 1:
            raise ValueError(f"max_loads must be at least 1 (or left out), got {self.max_loads}")
        if self.oracle not in ORACLES:
            raise ValueError(f"oracle must be one of {list(ORACLES)}, got {self.oracle!r}")
        if self.check_about not in CHECK_POINTS:
            raise ValueError(f"check_about must be one of {list(CHECK_POINTS)}, got {self.check_about!r}")
        if self.prompt not in PROMPT_STYLES:
            raise ValueError(f"prompt must be one of {list(PROMPT_STYLES)}, got {self.prompt!r}")


class BeamStaticsEnv(TextEnv[BeamTask]):
    """Support reactions of simply supported, overhanging and cantilever beams, exact in P and L.

    Each turn the agent either calls `check` (net force and moment imbalance of proposed reactions, at
    most `max_checks` times) or submits `<answer>R_A = ..., R_B = ...</answer>`, which ends the episode.
    Malformed turns and refused checks get an observation saying what was wrong and use up a turn.
    """

    env_id = "beam-statics-v0"
    task_type = BeamTask
    config_type = BeamStaticsConfig
    config: BeamStaticsConfig

    def __init__(self, config: BeamStaticsConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        super().__init__(config, render_mode, **overrides)
        self.allowed_categories = select_categories(self.config.categories, self.config.exclude_categories)
        self.gold: dict[str, Fraction] = {}
        self.checks_used = 0
        self.balanced: dict[str, str] | None = None  # the last checked proposal found in equilibrium

    def build_rubric(self) -> Rubric:
        """`correct` 1.0, `per_reaction` 0.2, `format` 0.05 (see README)."""
        return Rubric.from_verdict(WEIGHTS)

    def generate_task(self, seed: int) -> BeamTask:
        return generate_task(seed, self.allowed_categories, self.config.lengths, self.config.max_loads)

    def on_reset(self) -> None:
        assert self.task is not None
        self.gold = gold_reactions(self.task, cross_check=self.config.cross_check)
        self.checks_used = 0
        self.balanced = None

    def opening_messages(self, task: BeamTask) -> list[Message]:
        if self.config.prompt == "terse":
            return [
                {"role": "system", "content": terse_system_prompt(self.config.max_checks, self.config.max_turns, self.config.check_about)},
                {"role": "user", "content": terse_describe(task)},
            ]
        return [
            {"role": "system", "content": system_prompt(self.config.max_checks, self.config.max_turns, self.config.check_about)},
            {"role": "user", "content": describe(task)},
        ]

    def on_turn(self, action: str) -> TurnResult:
        act = parse_action(action, TOOLS)
        if isinstance(act, MalformedAction):
            return self._refused(f"Malformed turn: {act.reason}.")
        if isinstance(act, ToolCall):
            return self._check(act.arguments)
        assert isinstance(act, Answer)
        assert self.task is not None
        verdict = verify(self.task, act.text, self.gold)
        if "malformed" in verdict.details:
            return self._refused(f"Could not read your answer: {verdict.details['malformed']}")
        right = sum(r["correct"] for r in verdict.details["reactions"].values())
        message = f"Answer received: {right} of {len(self.gold)} reactions correct. Episode over."
        given = {name: r["given"] for name, r in verdict.details["reactions"].items()}
        return TurnResult([{"role": "user", "content": message}], terminated=True, verdict=verdict, info={"checklist": self._answer_checklist(given)})

    def _answer_checklist(self, given: dict[str, str]) -> list[dict[str, Any]]:
        """Criteria of a readable answer: it came after a check, and it repeats a proposal a check found balanced."""
        checked = self.checks_used > 0
        matches = self.balanced is not None and given == self.balanced
        if self.balanced is None:
            evidence = "no check found a proposal in equilibrium"
        else:
            evidence = f"balanced check {self.balanced}, answer {given}"
        return [
            criterion("checked_before_answering", checked, f"{self.checks_used} check(s) before the answer"),
            criterion("answer_matches_balanced_check", matches, evidence),
        ]

    def _check(self, arguments: dict[str, Any]) -> TurnResult:
        assert self.task is not None
        if self.checks_used >= self.config.max_checks:
            used_up = f"all {self.config.max_checks} check(s) used"
            return self._refused(
                f"check refused: all {self.config.max_checks} check(s) for this task are used up; "
                "send your final <answer> now.",
                [criterion("check_within_budget", False, used_up)],
            )
        try:
            values = parse_check_arguments(arguments, self.task.unknowns)
        except AnswerError as exc:
            return self._refused(f"check not run (it did not count against your budget): {exc}", [criterion("check_well_formed", False, str(exc))])
        self.checks_used += 1
        force, moment = imbalance(self.task, values)
        if self.config.check_about == "A":
            moment -= force * self.task.supports[0].x  # a vertical force F at x has moment F (x - a) about x = a
        left = self.config.max_checks - self.checks_used
        proposal = ", ".join(f"{name} = {show(name, values[name])}" for name in self.task.unknowns)
        verdict = "balanced: these reactions satisfy equilibrium" if force == moment == 0 else "not in equilibrium"
        if force == moment == 0:
            self.balanced = {name: show(name, values[name]) for name in self.task.unknowns}
        if self.config.prompt == "terse":
            message = (
                f"net force = {format_monomial(force, FORCE)}\nnet moment = {format_monomial(moment, MOMENT)}\n"
                f"{'balanced' if force == moment == 0 else 'not balanced'}, {left} check(s) left."
            )
        else:
            message = (
                f"check with {proposal}:\n"
                f"net vertical force = {format_monomial(force, FORCE)} (upward positive)\n"
                f"net moment about {CHECK_POINTS[self.config.check_about]} = {format_monomial(moment, MOMENT)} (counter-clockwise positive)\n"
                f"{verdict}. {left} check(s) left."
            )
        checklist = [
            criterion("check_within_budget", True, f"check {self.checks_used} of {self.config.max_checks}"),
            criterion("check_well_formed", True, f"checked {proposal}"),
        ]
        return TurnResult([{"role": "tool", "content": message}], info={"checks_used": self.checks_used, "checklist": checklist})

    def _refused(self, message: str, checklist: list[dict[str, Any]] | None = None) -> TurnResult:
        left = self.config.max_turns - self.turn
        if left > 0:
            message += f" ({left} turn(s) left.)"
        return TurnResult([{"role": "user", "content": message}], malformed=message, info={"checklist": checklist} if checklist else {})

    def oracle_action(self) -> str:
        """Check first (when a check and a later answer turn fit, unless `oracle="answer"`), then answer the
        gold reactions; what the check proposes depends on `oracle` (see `BeamStaticsConfig`)."""
        assert self.task is not None
        gold = {name: show(name, self.gold[name]) for name in self.task.unknowns}
        strategy = self.config.oracle
        if strategy != "answer" and self.checks_used == 0 and self.config.max_checks > 0 and self.turn + 2 <= self.config.max_turns:
            if strategy == "check-zeros":
                return format_tool_call("check", dict.fromkeys(gold, "0"))
            if strategy == "check-forces":
                return format_tool_call("check", {name: "0" if is_moment(name) else value for name, value in gold.items()})
            return format_tool_call("check", gold)
        return format_answer(", ".join(f"{name} = {value}" for name, value in gold.items()))

    def sample_action(self, rng: random.Random) -> str:
        """A well-formed uninformed turn: random multiples of P (P*L for moments), sometimes checked first."""
        assert self.task is not None
        guess = {name: show(name, Fraction(rng.randint(-12, 12), rng.choice((1, 2, 3, 4, 6)))) for name in self.task.unknowns}
        if self.checks_used < self.config.max_checks and rng.random() < 0.25:
            return format_tool_call("check", guess)
        return format_answer(", ".join(f"{name} = {value}" for name, value in guess.items()))


def criterion(name: str, passed: bool, evidence: str) -> dict[str, Any]:
    """One binary checklist criterion of a turn (`TurnResult.info["checklist"]`)."""
    return {"name": name, "passed": bool(passed), "evidence": evidence}


def _names(value: Any, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of category names, got {value!r}")
    return tuple(value)
