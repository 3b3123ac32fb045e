"""The Bayesian oracle: the exact posterior over the knowledge base, and the next most informative action.

Given the patient's condition, every finding and exam result is an independent draw, so the posterior is
exact naive Bayes: prior(condition | age band, sex) x P(chief complaint | condition) x the likelihood of
every answer and result seen so far. The chief complaint is the most salient positive complaint item,
so it also tells us that every complaint item above it is negative.

The oracle asks or orders whatever has the highest expected information gain (in nats) per unit cost
(an exam's cost plus weighted invasiveness; `ASK_COST` for a history question, which costs a turn), and
diagnoses when the top posterior reaches `confidence`, when no action would gain `MIN_GAIN`, or when only
one turn is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from verigym.envs.diagnosis.knowledge import SEXES, KnowledgeBase
from verigym.envs.diagnosis.task import DiagnosisTask

ASK_COST = 0.5
MIN_GAIN = 0.01


@dataclass(frozen=True)
class Decision:
    """`kind` is ask | order | diagnose; `item` the finding/exam id; `ranking` codes, most probable first."""

    kind: str
    item: str = ""
    ranking: tuple[str, ...] = ()


class PosteriorModel:
    """The knowledge base as likelihood arrays (conditions x items), built once per base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        conditions = list(kb.conditions.values())
        self.codes = [c.code for c in conditions]
        self.finding_ids = list(kb.findings)
        self.finding_index = {f: i for i, f in enumerate(self.finding_ids)}
        self.p_yes = {
            sex: np.array([[kb.finding_probability(c, f, sex) for f in self.finding_ids] for c in conditions])
            for sex in SEXES
        }
        self.exam_ids = list(kb.exams)
        self.columns: dict[tuple[str, str], int] = {}
        starts, blocks = [], []
        for eid in self.exam_ids:
            starts.append(len(self.columns))
            for cat in kb.exams[eid].categories:
                self.columns[(eid, cat)] = len(self.columns)
            blocks.append(np.array([list(kb.exam_distribution(c, eid).values()) for c in conditions]))
        self.exam_matrix = np.hstack(blocks) if blocks else np.zeros((len(conditions), 0))
        self.exam_starts = np.array(starts, dtype=int)
        with np.errstate(divide="ignore"):
            self.log_prior = {
                (band, sex): _normalised_log(np.array([c.prevalence[band] * c.sex[sex] for c in conditions]))
                for band in kb.age_bands for sex in SEXES
            }

    def implied_answers(self, task: DiagnosisTask) -> dict[str, bool]:
        """What the opening note reveals: the complaint is positive, more salient complaint items negative
        (for recorded cases such as DDXPlus, only that the initial evidence is positive)."""
        if task.recorded:
            return {task.complaint: True}
        answers: dict[str, bool] = {}
        for fid in self.kb.complaints:
            answers[fid] = fid == task.complaint
            if fid == task.complaint:
                break
        return answers

    def posterior(self, task: DiagnosisTask, answers: Mapping[str, bool], results: Mapping[str, str]) -> np.ndarray:
        """P(condition | opening note, answers, results), in `codes` order."""
        log = self.log_prior[(self.kb.band_of(task.age), task.sex)].copy()
        p_yes = self.p_yes[task.sex]
        known = {**self.implied_answers(task), **answers}
        with np.errstate(divide="ignore"):
            for fid, present in known.items():
                column = p_yes[:, self.finding_index[fid]]
                log += np.log(column if present else 1.0 - column)
            for eid, category in results.items():
                log += np.log(self.exam_matrix[:, self.columns[(eid, category)]])
        return _normalised(log)

    def decide(
        self, task: DiagnosisTask, answers: Mapping[str, bool], results: Mapping[str, str], *,
        turns_left: int, confidence: float, invasiveness_weight: float, immediate: bool = False,
    ) -> Decision:
        """The oracle's next action (see the module docstring)."""
        post = self.posterior(task, answers, results)
        ranking = tuple(self.codes[i] for i in np.argsort(-post, kind="stable"))
        if immediate or turns_left <= 1 or post.max() >= confidence:
            return Decision("diagnose", ranking=ranking)
        known = {**self.implied_answers(task), **answers}
        ask_gain = self.finding_gains(post, task.sex)
        ask_gain[[self.finding_index[f] for f in known]] = 0.0
        exam_gain = self.exam_gains(post)
        exam_gain[[self.exam_ids.index(e) for e in results]] = 0.0
        burdens = np.array([self.kb.exams[e].burden(invasiveness_weight) for e in self.exam_ids])
        if not len(exam_gain):
            exam_gain, burdens = np.zeros(1), np.ones(1)
        best_ask, best_exam = int(np.argmax(ask_gain)), int(np.argmax(exam_gain / np.maximum(burdens, 1e-6)))
        if max(ask_gain[best_ask], exam_gain[best_exam]) < MIN_GAIN:
            return Decision("diagnose", ranking=ranking)
        if ask_gain[best_ask] / ASK_COST >= exam_gain[best_exam] / max(burdens[best_exam], 1e-6):
            return Decision("ask", self.finding_ids[best_ask])
        return Decision("order", self.exam_ids[best_exam])

    def finding_gains(self, post: np.ndarray, sex: str) -> np.ndarray:
        """Expected information gain (nats) of asking each history item."""
        p = self.p_yes[sex]
        yes, no = post[:, None] * p, post[:, None] * (1.0 - p)
        return _entropy(post) - (_conditional_entropy(yes) + _conditional_entropy(no))

    def exam_gains(self, post: np.ndarray) -> np.ndarray:
        """Expected information gain (nats) of ordering each exam."""
        if not self.exam_ids:
            return np.zeros(0)
        per_column = _conditional_entropy(post[:, None] * self.exam_matrix)
        return _entropy(post) - np.add.reduceat(per_column, self.exam_starts)


_MODELS: dict[int, PosteriorModel] = {}


def posterior_model(kb: KnowledgeBase) -> PosteriorModel:
    """The (cached) model of `kb`."""
    model = _MODELS.get(id(kb))
    if model is None or model.kb is not kb:
        model = _MODELS[id(kb)] = PosteriorModel(kb)
    return model


def _normalised_log(weights: np.ndarray) -> np.ndarray:
    return np.log(weights / weights.sum())


def _normalised(log: np.ndarray) -> np.ndarray:
    top = log.max()
    if not np.isfinite(top):
        raise ValueError("the observations are impossible under every condition of the knowledge base")
    p = np.exp(log - top)
    return p / p.sum()


def _entropy(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def _conditional_entropy(joint: np.ndarray) -> np.ndarray:
    """Per column k: -sum_n joint[n,k] * log(joint[n,k] / sum_n joint[n,k]) = P(k) * H(condition | k)."""
    marginal = joint.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / marginal), 0.0)
    return -terms.sum(axis=0)
