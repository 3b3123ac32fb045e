"""A cheap slice of the template validation (the full figures: `python -m verigym.envs.rtl.validate`)."""

from __future__ import annotations

import pytest

from verigym.envs.rtl.formal import prove_equivalent
from verigym.envs.rtl.generator import generate_task, template_names
from verigym.envs.rtl.mutants import inverted_bit, mutants
from verigym.envs.rtl.validate import batch_check
from verigym.sandbox.records import Limits

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def session(local_providers):
    from verigym.envs.rtl.env import RtlEnv

    provider = local_providers.provider(RtlEnv.sandbox_requirements, Limits(timeout_s=300.0, memory_bytes=2 << 30))
    with provider.session() as s:
        yield s


def test_every_reference_passes_and_every_mutant_fails(session) -> None:
    tasks = [generate_task(seed, templates=(name,)) for name in template_names() for seed in (0, 1)]
    assert all(r.passed for r in batch_check(session, [(t, t.reference) for t in tasks]))
    mutated = [(t, kind, src) for t in tasks for kind, src in mutants(t).items()]
    results = batch_check(session, [(t, src) for t, _, src in mutated])
    survivors = [(t.task_id, kind) for (t, kind, _), r in zip(mutated, results) if r.passed]
    assert not survivors


def test_formal_agrees_with_simulation_on_combinational_tasks(session) -> None:
    for name in ("alu", "barrel_shifter", "priority_encoder", "comparator"):
        task = generate_task(0, "medium", (name,))
        assert prove_equivalent(session, task, task.reference, task.reference).proven
        equivalent = prove_equivalent(session, task, inverted_bit(task), task.reference)
        assert not equivalent.proven and "counterexample" in equivalent.reason


def test_bounded_proof_of_a_clocked_design(session) -> None:
    task = generate_task(0, "easy", ("sequence_detector",))
    assert prove_equivalent(session, task, task.reference, task.reference).proven
    assert not prove_equivalent(session, task, mutants(task)["inverted_bit"], task.reference).proven
