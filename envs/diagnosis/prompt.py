"""The text the agent sees: the protocol and catalogue (system message) and the opening note (user)."""

from __future__ import annotations

from verigym.envs.diagnosis.knowledge import KnowledgeBase
from verigym.envs.diagnosis.task import DiagnosisTask


def system_prompt(kb: KnowledgeBase, max_turns: int, max_differential: int, weights: dict[str, float], cost_cap: float,
                  invasiveness_weight: float) -> str:
    """Rules, tools, reward and the catalogue of askable items, exams and diagnoses."""
    items = "\n".join(f"- {f.id}: {f.ask}" for f in kb.findings.values())
    exams = "\n".join(
        f"- {e.id}: {e.name} (cost {e.burden(invasiveness_weight):g})" for e in kb.exams.values()
    ) or "(none available in this case set)"
    diagnoses = "\n".join(f"- {c.code}: {c.name}" for c in kb.conditions.values())
    return (
        "You are the physician in a simulated clinic (a training environment; its medical content is "
        "simplified and not for clinical use). Work out the patient's diagnosis.\n"
        "Each turn send exactly one tool call:\n"
        '<tool_call>{"name": "ask", "arguments": {"item": "fever"}}</tool_call>  asks the patient about a '
        "history item (answered from the case)\n"
        '<tool_call>{"name": "order", "arguments": {"exam": "chest_xray"}}</tool_call>  orders an '
        "examination (labs report a value with its reference range)\n"
        '<tool_call>{"name": "diagnose", "arguments": {"primary": "J18.9", "differential": ["J20.9"]}}'
        "</tool_call>  commits your diagnosis and ends the episode: `primary` is ONE code from the list "
        f"below; `differential` optionally ranks up to {max_differential} other codes, most likely first.\n"
        f"Reward on diagnosis: {weights['correct']:g} x correct primary + {weights['top_k']:g} x rank of the "
        f"true code in [primary, differential] + {weights['exam_f1']:g} x F1 of your exams against the "
        f"exams that establish the diagnosis - {abs(weights['cost']):g} x min(1, total exam cost / {cost_cap:g}). "
        f"Each exam is charged once. You have at most {max_turns} turns; diagnose before they run out.\n"
        "The presenting complaint is the first item of the history list (in its order) that the patient has.\n"
        f"History items:\n{items}\nExaminations:\n{exams}\nDiagnoses (code: name):\n{diagnoses}"
    )


def opening_note(kb: KnowledgeBase, task: DiagnosisTask) -> str:
    """Age, sex and the presenting complaint only: never the diagnosis or an exam finding."""
    if task.opening:
        return f"A {task.age}-year-old {_person(task)} presents. {task.opening}"
    complaint = kb.findings[task.complaint].complaint
    return f"A {task.age}-year-old {_person(task)} presents with {complaint}."


def _person(task: DiagnosisTask) -> str:
    if task.age < 18:
        return "girl" if task.sex == "female" else "boy"
    return "woman" if task.sex == "female" else "man"
