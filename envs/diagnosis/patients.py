"""Procedural patients: a seeded condition, demographics and complaint; findings and results drawn per item.

A patient is sampled as: age band and sex uniformly, then the condition from the prevalence weights of
that band and sex; the age is uniform inside the band. Every finding and exam result is a pure function
of (patient key, item id) through its own `random.Random`, so it is drawn "when first asked" and is the
same on every later ask. The presenting complaint is the most salient complaint item that is positive; a
patient with none is redrawn under a new key (so the posterior given the complaint stays exact).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from verigym.envs.diagnosis.knowledge import SEXES, Condition, KnowledgeBase
from verigym.envs.diagnosis.task import DiagnosisTask

MAX_ATTEMPTS = 1000


@dataclass(frozen=True)
class ExamResult:
    """A drawn result: its category (what the oracle conditions on) and value (numeric exams)."""

    exam: str
    category: str
    value: float | None


def generate_task(seed: int, kb: KnowledgeBase) -> DiagnosisTask:
    """The patient for `seed` (deterministic)."""
    for attempt in range(MAX_ATTEMPTS):
        patient = f"{seed}.{attempt}"
        rng = random.Random(f"patient:{patient}")
        band = rng.choice(kb.age_bands)
        sex = rng.choice(SEXES)
        weights = [c.prevalence[band] * c.sex[sex] for c in kb.conditions.values()]
        if not any(weights):
            continue
        condition = rng.choices(list(kb.conditions.values()), weights)[0]
        low, high = kb.age_ranges[band]
        age = rng.randint(low, high)
        complaint = chief_complaint(kb, patient, condition, sex)
        if complaint is not None:
            return DiagnosisTask(f"diagnosis-{seed}", seed, patient, condition.code, age, sex, complaint)
    raise RuntimeError(f"no presentable patient for seed {seed} after {MAX_ATTEMPTS} attempts; check the base")


def chief_complaint(kb: KnowledgeBase, patient: str, condition: Condition, sex: str) -> str | None:
    """The first complaint item (in salience order) that is positive for this patient."""
    for fid in kb.complaints:
        if finding_present(kb, patient, condition, sex, fid):
            return fid
    return None


def finding_present(kb: KnowledgeBase, patient: str, condition: Condition, sex: str, finding_id: str) -> bool:
    """Whether the patient has history item `finding_id` (a fixed draw per patient and item)."""
    u = random.Random(f"finding:{patient}:{finding_id}").random()
    return u < kb.finding_probability(condition, finding_id, sex)


def exam_result(kb: KnowledgeBase, patient: str, condition: Condition, exam_id: str) -> ExamResult:
    """The result of `exam_id` for this patient (a fixed draw per patient and exam)."""
    exam = kb.exams[exam_id]
    rng = random.Random(f"exam:{patient}:{exam_id}")
    u, cumulative = rng.random(), 0.0
    dist = kb.exam_distribution(condition, exam_id)
    category = next((c for c, p in dist.items() if p > 0), exam.categories[0])
    for cat, p in dist.items():
        cumulative += p
        if p > 0:
            category = cat
            if u < cumulative:
                break
    value = None
    if exam.ranges is not None:
        low, high = exam.ranges[category]
        value = round(low + rng.random() * (high - low), exam.decimals)
    return ExamResult(exam_id, category, value)


def format_result(kb: KnowledgeBase, result: ExamResult) -> str:
    """The report line the agent sees: value, unit and reference range, or the report text."""
    exam = kb.exams[result.exam]
    if exam.ranges is None:
        assert exam.texts is not None
        return f"{exam.name}: {exam.texts[result.category]}"
    assert result.value is not None and exam.reference is not None
    low, high = exam.reference
    unit = f" {exam.unit}" if exam.unit and exam.unit != "pH" else ""
    return f"{exam.name}: {_num(result.value, exam.decimals)}{unit} (reference {_num(low, exam.decimals)}-{_num(high, exam.decimals)}{unit})"


def _num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"
