"""`diagnosis-v0`: a deterministic virtual clinic graded by canonical ICD-10 codes (no LLM in the loop).

Layout: `data/` (the knowledge base, TOML; for training agents, not for clinical use), `knowledge.py`
(loading), `validate.py` (the base's validator), `task.py` + `patients.py` (procedural patients and
per-item draws), `ddxplus.py` (DDXPlus files as tasks), `verifier.py` (grading), `oracle.py` (the exact
Bayesian oracle), `prompt.py` (text), `env.py` (the Gymnasium env), `benchmark.py` (throughput), `tests/`.
"""

from verigym.envs.diagnosis.ddxplus import DdxPlus, DdxPlusError, load_ddxplus
from verigym.envs.diagnosis.env import DiagnosisConfig, DiagnosisEnv
from verigym.envs.diagnosis.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from verigym.envs.diagnosis.oracle import PosteriorModel, posterior_model
from verigym.envs.diagnosis.patients import exam_result, finding_present, generate_task
from verigym.envs.diagnosis.task import DiagnosisTask
from verigym.envs.diagnosis.verifier import WEIGHTS, verify

__all__ = [
    "WEIGHTS",
    "DdxPlus",
    "DdxPlusError",
    "DiagnosisConfig",
    "DiagnosisEnv",
    "DiagnosisTask",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "PosteriorModel",
    "exam_result",
    "finding_present",
    "generate_task",
    "load_ddxplus",
    "load_knowledge_base",
    "posterior_model",
    "verify",
]
