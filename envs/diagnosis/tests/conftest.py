"""Shared fixtures for diagnosis-v0 tests: the shipped knowledge base and a pool of generated patients."""

from __future__ import annotations

import pytest

from verigym.envs.diagnosis.knowledge import KnowledgeBase, load_knowledge_base
from verigym.envs.diagnosis.patients import generate_task
from verigym.envs.diagnosis.task import DiagnosisTask


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="session")
def patients(kb: KnowledgeBase) -> list[DiagnosisTask]:
    """Patients for seeds 0..1999."""
    return [generate_task(seed, kb) for seed in range(2000)]
