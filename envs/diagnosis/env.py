"""`diagnosis-v0`: a deterministic virtual clinic; ask, order exams, then commit a coded diagnosis."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.diagnosis.ddxplus import DdxPlus, load_ddxplus
from verigym.envs.diagnosis.knowledge import Condition, KnowledgeBase, load_knowledge_base
from verigym.envs.diagnosis.oracle import posterior_model
from verigym.envs.diagnosis.patients import ExamResult, exam_result, finding_present, format_result, generate_task
from verigym.envs.diagnosis.prompt import opening_note, system_prompt
from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.envs.diagnosis.verifier import WEIGHTS, cost_component, verify
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.verdict import Verdict

TOOLS = ("ask", "order", "diagnose")
ORACLE_STRATEGIES = ("bayes", "immediate")


@dataclass
class DiagnosisConfig(EnvConfig):
    """Settings of `diagnosis-v0`.

    `cost_cap`: total exam cost at which the `cost` penalty saturates at 1; `invasiveness_weight`: cost
    units added per invasiveness level. `max_differential`: longest differential accepted.
    `oracle_strategy`: "bayes" (information gain per cost, stop at `oracle_confidence`) or "immediate"
    (the diagnose-from-the-opening-note baseline: the oracle's posterior without asking anything).
    `knowledge_base`: a folder with the two TOML files ("" = the shipped base). `ddxplus_dir`: a folder
    with DDXPlus release files; when set, tasks are its patient rows (seed modulo the number of rows, the
    first `ddxplus_limit` rows of `ddxplus_patients` if the limit is above 0) instead of generated ones.
    """

    max_turns: int = 12
    cost_cap: float = 30.0
    invasiveness_weight: float = 1.0
    max_differential: int = 4
    oracle_strategy: str = "bayes"
    oracle_confidence: float = 0.95
    knowledge_base: str = ""
    ddxplus_dir: str = ""
    ddxplus_patients: str = "release_test_patients"
    ddxplus_limit: int = 0

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")
        if self.cost_cap <= 0:
            raise ValueError(f"cost_cap must be positive, got {self.cost_cap}")
        if self.invasiveness_weight < 0 or self.max_differential < 0:
            raise ValueError("invasiveness_weight and max_differential must be 0 or more")
        if self.ddxplus_limit < 0:
            raise ValueError(f"ddxplus_limit must be 0 (all rows) or more, got {self.ddxplus_limit}")
        if self.oracle_strategy not in ORACLE_STRATEGIES:
            raise ValueError(f"oracle_strategy must be one of {ORACLE_STRATEGIES}, got {self.oracle_strategy!r}")
        if not 0 < self.oracle_confidence <= 1:
            raise ValueError(f"oracle_confidence must be in (0, 1], got {self.oracle_confidence}")


class DiagnosisEnv(TextEnv[DiagnosisTask]):
    """Clinical diagnosis against a knowledge base: `ask` history items, `order` exams, `diagnose` a code.

    Answers and results are fixed per patient and item (re-asking repeats them). Malformed turns, unknown
    items and unreadable diagnoses get an observation saying what was wrong and use up a turn.
    """

    env_id = "diagnosis-v0"
    task_type = DiagnosisTask
    config_type = DiagnosisConfig
    config: DiagnosisConfig

    def __init__(self, config: DiagnosisConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        super().__init__(config, render_mode, **overrides)
        c = self.config
        self.ddxplus: DdxPlus | None = None
        if c.ddxplus_dir:
            self.ddxplus = load_ddxplus(c.ddxplus_dir, c.ddxplus_patients, c.ddxplus_limit or None)
            self.kb: KnowledgeBase = self.ddxplus.knowledge_base
        else:
            self.kb = load_knowledge_base(c.knowledge_base or None)
        self.model = posterior_model(self.kb)
        self.answers: dict[str, bool] = {}
        self.results: dict[str, ExamResult] = {}
        self.ordered: list[str] = []

    def build_rubric(self) -> Rubric:
        """`correct` 1.0, `top_k` 0.2, `exam_f1` 0.2, `cost` -0.4 (see README)."""
        return Rubric.from_verdict(WEIGHTS)

    def generate_task(self, seed: int) -> DiagnosisTask:
        if self.ddxplus is not None:
            return self.ddxplus.task(seed)
        return generate_task(seed, self.kb)

    def on_reset(self) -> None:
        assert self.task is not None
        if self.task.condition not in self.kb.by_code:
            raise ValueError(f"task {self.task.task_id}: code {self.task.condition} is not in the knowledge base")
        if self.task.complaint not in self.kb.findings:
            raise ValueError(f"task {self.task.task_id}: complaint {self.task.complaint!r} is not an item of the knowledge base")
        self.answers, self.results, self.ordered = {}, {}, []

    def opening_messages(self, task: DiagnosisTask) -> list[Message]:
        c = self.config
        return [
            {"role": "system", "content": system_prompt(self.kb, c.max_turns, c.max_differential, WEIGHTS, c.cost_cap, c.invasiveness_weight)},
            {"role": "user", "content": opening_note(self.kb, task)},
        ]

    @property
    def condition(self) -> Condition:
        """The current patient's true condition."""
        assert self.task is not None
        return self.kb.by_code[self.task.condition]

    def on_turn(self, action: str) -> TurnResult:
        act = parse_action(action, TOOLS)
        if isinstance(act, MalformedAction):
            return self._refused(f"Malformed turn: {act.reason}.")
        if isinstance(act, Answer):
            return self._refused('Use the diagnose tool to answer, e.g. {"name": "diagnose", "arguments": {"primary": "J18.9"}}.')
        assert isinstance(act, ToolCall)
        if act.name == "ask":
            return self._ask(act.arguments)
        if act.name == "order":
            return self._order(act.arguments)
        return self._diagnose(act.arguments)

    def truncation_verdict(self) -> Verdict:
        """A truncated episode still pays for the exams it ordered (every other component is 0)."""
        c = self.config
        cost = cost_component(self.kb, self.ordered, c.cost_cap, c.invasiveness_weight)
        components = {**dict.fromkeys(self.rubric.verdict_names, 0.0), "cost": cost}
        return Verdict(False, 0.0, components, {"truncated": True, "ordered": list(self.ordered)})

    def _ask(self, arguments: dict[str, Any]) -> TurnResult:
        assert self.task is not None
        item = _single(arguments, "item")
        if item is None or item not in self.kb.findings:
            return self._refused(f"ask needs {{\"item\": ID}} with ID one of: {', '.join(self.kb.findings)}.")
        if self.task.recorded:
            answer = dict(self.task.recorded).get(item, "no")
            self.answers[item] = answer == "yes"
            return TurnResult([{"role": "tool", "content": f"{item}: {answer}"}])
        present = finding_present(self.kb, self.task.patient, self.condition, self.task.sex, item)
        self.answers[item] = present
        text = self.kb.findings[item].ask
        reply = f"{item}: yes, the patient reports {text}." if present else f"{item}: no, the patient denies {text}."
        return TurnResult([{"role": "tool", "content": reply}])

    def _order(self, arguments: dict[str, Any]) -> TurnResult:
        assert self.task is not None
        if not self.kb.exams:
            return self._refused("order is unavailable: this case set has no examinations.")
        exam = _single(arguments, "exam")
        if exam is None or exam not in self.kb.exams:
            return self._refused(f"order needs {{\"exam\": ID}} with ID one of: {', '.join(self.kb.exams)}.")
        repeat = exam in self.results
        if not repeat:
            self.results[exam] = exam_result(self.kb, self.task.patient, self.condition, exam)
            self.ordered.append(exam)
        reply = f"{exam}: {format_result(self.kb, self.results[exam])}"
        if repeat:
            reply += " (already reported; the result is unchanged and not charged again)"
        return TurnResult([{"role": "tool", "content": reply}], info={"ordered": list(self.ordered)})

    def _diagnose(self, arguments: dict[str, Any]) -> TurnResult:
        assert self.task is not None
        c = self.config
        verdict = verify(self.task, arguments, self.ordered, self.kb, max_differential=c.max_differential,
                         cost_cap=c.cost_cap, invasiveness_weight=c.invasiveness_weight)
        if "malformed" in verdict.details:
            return self._refused(f"Diagnosis not accepted: {verdict.details['malformed']}.")
        outcome = "correct" if verdict.passed else "incorrect"
        message = f"Diagnosis {verdict.details['primary']} recorded ({outcome}). Episode over."
        return TurnResult([{"role": "user", "content": message}], terminated=True, verdict=verdict)

    def _refused(self, message: str) -> TurnResult:
        left = self.config.max_turns - self.turn
        if left > 0:
            message += f" ({left} turn(s) left.)"
        return TurnResult([{"role": "user", "content": message}], malformed=message)

    # --- scripted agents -----------------------------------------------------------------------------
    def oracle_action(self) -> str:
        """The Bayesian oracle's next action (or, with oracle_strategy="immediate", diagnose at once)."""
        assert self.task is not None
        c = self.config
        decision = self.model.decide(
            self.task, self.answers, {e: r.category for e, r in self.results.items()},
            turns_left=c.max_turns - self.turn, confidence=c.oracle_confidence,
            invasiveness_weight=c.invasiveness_weight, immediate=c.oracle_strategy == "immediate",
        )
        if decision.kind == "ask":
            return format_tool_call("ask", {"item": decision.item})
        if decision.kind == "order":
            return format_tool_call("order", {"exam": decision.item})
        ranking = list(decision.ranking)
        return format_tool_call("diagnose", {"primary": ranking[0], "differential": ranking[1 : 1 + c.max_differential]})

    def sample_action(self, rng: random.Random) -> str:
        """Uninformed but well-formed: a random question (45%), exam (40%) or diagnosis (15%)."""
        roll = rng.random()
        if roll < 0.45:
            return format_tool_call("ask", {"item": rng.choice(list(self.kb.findings))})
        if roll < 0.85 and self.kb.exams:
            return format_tool_call("order", {"exam": rng.choice(list(self.kb.exams))})
        codes = list(self.kb.by_code)
        codes = rng.sample(codes, min(len(codes), 1 + rng.randint(0, self.config.max_differential)))
        return format_tool_call("diagnose", {"primary": codes[0], "differential": codes[1:]})


def _single(arguments: dict[str, Any], key: str) -> str | None:
    """The one string argument `key`, or None if the arguments are anything else."""
    if set(arguments) != {key} or not isinstance(arguments[key], str):
        return None
    return arguments[key]
