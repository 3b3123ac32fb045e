"""The verifier: a pure function of (task, `diagnose` arguments, ordered exams) -> `Verdict`.

Components (each in [0, 1]; the rubric weights them, `cost` negatively):
  correct   1 if the primary diagnosis resolves to the true code (codes in any spelling, names, synonyms)
  top_k     (K + 1 - r) / K when the true code is at rank r of [primary, *differential], K = 1 + max
            differential length; 0 when absent
  exam_f1   F1 of the set of ordered exams against the condition's key exams (by exam id)
  cost      min(1, sum of ordered exams' cost + invasiveness_weight * invasiveness, each once / cost_cap)
An episode truncated without a diagnosis still pays `cost` (and scores 0 on the rest), so running out the
clock never beats diagnosing. A malformed diagnosis (several primaries, free text, an unknown or repeated code, a too-long differential,
unknown arguments) gets all zeros and `details["malformed"]`; the env shows it and the agent may retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verigym.envs.diagnosis.knowledge import KnowledgeBase
from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.envs.verdict import Verdict, VerifierError

COMPONENTS = ("correct", "top_k", "exam_f1", "cost")
WEIGHTS = {"correct": 1.0, "top_k": 0.2, "exam_f1": 0.2, "cost": -0.4}
ARGUMENTS = {"primary", "differential"}


class DiagnosisError(ValueError):
    """A `diagnose` call that cannot be graded; the message is shown to the agent."""


def parse_diagnosis(arguments: Mapping[str, Any], kb: KnowledgeBase, max_differential: int) -> tuple[str, tuple[str, ...]]:
    """(primary code, differential codes) from the tool arguments, strictly typed; raises DiagnosisError."""
    unknown = sorted(set(arguments) - ARGUMENTS)
    if unknown:
        raise DiagnosisError(f"unknown argument(s) {unknown}; diagnose takes primary and optional differential")
    primary = arguments.get("primary")
    if not isinstance(primary, str):
        raise DiagnosisError('"primary" must be ONE diagnosis code as a string, e.g. "J18.9"')
    code = kb.resolve(primary)
    if code is None:
        raise DiagnosisError(f"primary {primary[:80]!r} is not a code or name in the list of diagnoses")
    differential = arguments.get("differential", [])
    if not isinstance(differential, list) or not all(isinstance(d, str) for d in differential):
        raise DiagnosisError('"differential" must be a list of diagnosis codes (strings), most likely first')
    if len(differential) > max_differential:
        raise DiagnosisError(f"the differential lists {len(differential)} diagnoses; at most {max_differential} are allowed")
    ranked = [code]
    for entry in differential:
        other = kb.resolve(entry)
        if other is None:
            raise DiagnosisError(f"differential entry {entry[:80]!r} is not a code or name in the list of diagnoses")
        if other in ranked:
            raise DiagnosisError(f"differential entry {entry[:80]!r} repeats {other}")
        ranked.append(other)
    return code, tuple(ranked[1:])


def exam_burden(kb: KnowledgeBase, ordered: Sequence[str] | set[str], invasiveness_weight: float) -> float:
    """Cost units of the distinct exams in `ordered` (each charged once)."""
    return sum(kb.exams[e].burden(invasiveness_weight) for e in set(ordered))


def cost_component(kb: KnowledgeBase, ordered: Sequence[str], cost_cap: float, invasiveness_weight: float) -> float:
    """The bounded `cost` component: min(1, burden / cost_cap)."""
    if cost_cap <= 0:
        raise ValueError(f"cost_cap must be positive, got {cost_cap}")
    return min(1.0, exam_burden(kb, ordered, invasiveness_weight) / cost_cap)


def verify(
    task: DiagnosisTask, arguments: Mapping[str, Any], ordered: Sequence[str], kb: KnowledgeBase, *,
    max_differential: int = 4, cost_cap: float = 30.0, invasiveness_weight: float = 1.0,
) -> Verdict:
    """Judge one `diagnose` call for `task` after the exams in `ordered` (ids, in order, repeats allowed)."""
    try:
        primary, differential = parse_diagnosis(arguments, kb, max_differential)
    except DiagnosisError as exc:
        return Verdict(False, 0.0, dict.fromkeys(COMPONENTS, 0.0), {"malformed": str(exc)})
    if task.condition not in kb.by_code:
        raise VerifierError(f"task {task.task_id}: true code {task.condition} is not in the knowledge base")
    unknown = [e for e in ordered if e not in kb.exams]
    if unknown:
        raise VerifierError(f"task {task.task_id}: ordered exams {unknown} are not in the knowledge base")
    ranked = (primary, *differential)
    k = 1 + max_differential
    top_k = (k + 1 - (ranked.index(task.condition) + 1)) / k if task.condition in ranked else 0.0
    exams = set(ordered)
    key = set(kb.by_code[task.condition].key_exams)
    f1 = 2 * len(exams & key) / (len(exams) + len(key)) if exams or key else 1.0
    burden = exam_burden(kb, exams, invasiveness_weight)
    cost = cost_component(kb, ordered, cost_cap, invasiveness_weight)
    correct = primary == task.condition
    components = {"correct": float(correct), "top_k": top_k, "exam_f1": f1, "cost": cost}
    details = {"primary": primary, "differential": list(differential), "expected": task.condition,
               "key_exams": sorted(key), "ordered": sorted(exams), "burden": burden}
    return Verdict(correct, float(correct), components, details)
