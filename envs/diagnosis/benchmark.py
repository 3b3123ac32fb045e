"""Throughput of `diagnosis-v0`, each figure next to a baseline measured in the same run.

Rates are operations per CPU second of this process (`time.process_time`), on one core, so they hold on a
busy machine. `throughput()` returns rows for the `benchmarks/env_throughput.py` table.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from verigym.envs.diagnosis.env import DiagnosisEnv
from verigym.envs.diagnosis.knowledge import KnowledgeBase, load_knowledge_base
from verigym.envs.diagnosis.oracle import posterior_model
from verigym.envs.diagnosis.patients import exam_result, finding_present, generate_task
from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.envs.diagnosis.verifier import verify

ENV_ID = "diagnosis-v0"
Case = tuple[DiagnosisTask, dict[str, Any], list[str], dict[str, bool], dict[str, str]]


def throughput(seconds: float = 2.0) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, baseline, baseline_ops_per_s}; each measurement runs about `seconds`."""
    kb = load_knowledge_base()
    model = posterior_model(kb)
    cases = _cases(kb, 200)
    rows = [
        _row("verify (strict diagnose arguments -> Verdict)", _rate(lambda c: verify(c[0], c[1], c[2], kb), cases, seconds),
             "naive substring grading (code in text; hackable)", _rate(_substring_grade, cases, seconds)),
        _row("exact posterior (numpy arrays)", _rate(lambda c: model.posterior(c[0], c[3], c[4]), cases, seconds),
             "same posterior in Python loops", _rate(lambda c: direct_posterior(kb, c[0], c[3], c[4]), cases, seconds)),
    ]
    bayes, immediate = DiagnosisEnv(), DiagnosisEnv(oracle_strategy="immediate")
    rows.append(
        _row("oracle episode (reset + asks/orders + diagnose)", _rate(lambda s: _episode(bayes, s), range(10_000), seconds),
             "diagnose-at-once episode (reset + diagnose)", _rate(lambda s: _episode(immediate, s), range(10_000), seconds))
    )
    return rows


def direct_posterior(kb: KnowledgeBase, task: DiagnosisTask, answers: dict[str, bool], results: dict[str, str]) -> np.ndarray:
    """Bayes' rule written out condition by condition (the reference the vectorised model is tested against)."""
    band = kb.band_of(task.age)
    weights = []
    for c in kb.conditions.values():
        w = c.prevalence[band] * c.sex[task.sex]
        for fid in kb.complaints:
            p = kb.finding_probability(c, fid, task.sex)
            w *= p if fid == task.complaint else 1 - p
            if fid == task.complaint:
                break
        for fid, present in answers.items():
            p = kb.finding_probability(c, fid, task.sex)
            w *= p if present else 1 - p
        for eid, category in results.items():
            w *= kb.exam_distribution(c, eid)[category]
        weights.append(w)
    total = math.fsum(weights)
    return np.array([w / total for w in weights])


def _row(case: str, rate: float, baseline: str | None, baseline_rate: float | None) -> dict[str, Any]:
    return {"env": ENV_ID, "case": case, "ops_per_s": rate, "baseline": baseline, "baseline_ops_per_s": baseline_rate}


def _rate(op: Callable[[Any], Any], items: Sequence[Any], seconds: float) -> float:
    done, start = 0, time.process_time()
    while True:
        op(items[done % len(items)])
        done += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return done / elapsed


def _cases(kb: KnowledgeBase, n: int) -> list[Case]:
    """Seeded patients with a few answers and results, and a diagnosis (right for two thirds)."""
    rng = random.Random(0)
    codes = list(kb.by_code)
    cases = []
    for seed in range(n):
        task = generate_task(seed, kb)
        condition = kb.by_code[task.condition]
        items, exams = rng.sample(list(kb.findings), 6), rng.sample(list(kb.exams), 4)
        answers = {f: finding_present(kb, task.patient, condition, task.sex, f) for f in items}
        results = {e: exam_result(kb, task.patient, condition, e).category for e in exams}
        primary = task.condition if seed % 3 else rng.choice(codes)
        arguments = {"primary": primary, "differential": rng.sample([c for c in codes if c != primary], 3)}
        cases.append((task, arguments, exams, answers, results))
    return cases


def _substring_grade(case: Case) -> bool:
    task, arguments, *_ = case
    return task.condition.lower() in str(arguments).lower()


def _episode(env: DiagnosisEnv, seed: int) -> float:
    env.reset(seed=seed)
    while True:
        _, reward, terminated, truncated, _ = env.step(env.oracle_action())
        if terminated or truncated:
            return reward


if __name__ == "__main__":
    for row in throughput():
        print(row)
