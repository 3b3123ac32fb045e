"""Shared fixtures: real sandboxes (local, and docker where it runs); the references of every problem with a
hand-written solution run once per test session, batched in one harness process (trusted code only)."""

from __future__ import annotations

import pytest
from sandbox_providers import docker_providers, local_providers, sandbox_providers  # noqa: F401

from verigym.envs.kernels.env import KernelsEnv
from verigym.envs.kernels.grading import run_candidate, run_references
from verigym.envs.kernels.oracle import oracle_names
from verigym.envs.kernels.static_check import StaticReport, check_source
from verigym.envs.kernels.task import curated_task
from verigym.envs.kernels.verifier import grade

TRIALS = 2  # the cached-output hack needs at least two trials
TIMEOUT_S = 600.0  # generous: a loaded CI machine must not turn a slow run into a failure


@pytest.fixture(scope="session")
def kernels_provider(local_providers):  # noqa: F811
    return local_providers.provider(KernelsEnv.sandbox_requirements, KernelsEnv.sandbox_limits)


@pytest.fixture(scope="session")
def references(kernels_provider):
    """name -> ReferenceRun for every problem with an oracle solution (TRIALS trials each)."""
    names = oracle_names()
    tasks = [curated_task(name, trials=TRIALS) for name in names]
    with kernels_provider.session() as session:
        runs = run_references(session, [(t.source, t.trial_seeds) for t in tasks], "cpu", None, TIMEOUT_S)
    return dict(zip(names, runs, strict=True))


@pytest.fixture(scope="session")
def grade_submission(kernels_provider, references):
    """Grade `source` for problem `name` in a fresh session; `static=False` BYPASSES the static check, leaving
    only the harness's runtime checks and the host-side comparison."""

    def run(name: str, source: str, static: bool = True):
        report = check_source(source) if static else StaticReport((), ("bypassed",))
        if not report.ok:
            return grade(report, None, None, "cpu")
        with kernels_provider.session() as session:
            candidate = run_candidate(session, source, references[name], "cpu", None, TIMEOUT_S)
        return grade(report, references[name], candidate, "cpu")

    return run


@pytest.fixture()
def local_env(local_providers):  # noqa: F811
    env = KernelsEnv(device="cpu", trials=TRIALS, timeout_s=TIMEOUT_S)
    env.use_sandboxes(local_providers)
    yield env
    env.close()
