"""`verigym train` on a sandboxed env end to end: a tiny model, a few steps of code-python-v0 on a real backend,
sessions provisioned per episode and released, nothing left behind on the host."""

from __future__ import annotations

import pytest

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from verigym.agents.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", layers=1, hidden=64, heads=1, kv_heads=1, seed=0)


class CountingBackend:
    """The real backend (local or docker), recording every session it opens."""

    def __init__(self, inner, opened):
        self.inner, self.opened = inner, opened
        self.isolation, self.name = inner.isolation, inner.name

    def open(self, limits=None, requirements=None):
        session = self.inner.open(limits, requirements)
        self.opened.append(session)
        return session

    def close(self):
        self.inner.close()


@pytest.fixture
def counting_backend():
    """Registers `counting-BACKEND` sandbox plugins that wrap the built-ins; yields the sessions they open."""
    from verigym.plugins.registry import RUNTIME_PLUGIN, get_registry
    from verigym.plugins.specs import SandboxSpec
    from verigym.sandbox.choose import make_backend

    opened = []
    registry = get_registry()
    for name in ("local", "docker"):
        factory = lambda limits=None, _n=name: CountingBackend(make_backend(_n, limits=limits), opened)  # noqa: E731
        registry.sandboxes.add(SandboxSpec(f"counting-{name}", factory, "test"), RUNTIME_PLUGIN)
    yield opened
    for name in ("local", "docker"):
        del registry.sandboxes.entries[f"counting-{name}"]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", ["local", "docker"])
def test_training_on_code_python_provisions_and_releases_sessions(backend, tiny_model, tmp_path, host_state, counting_backend):
    if backend == "docker":
        from verigym.sandbox.hostsetup import docker_answers

        if (problem := docker_answers()) is not None:
            pytest.skip(f"no Docker engine answers ({problem}); `verigym sandbox setup` starts one")
    from verigym.trainer.config import TrainerConfig, from_dict
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    config = from_dict(
        TrainerConfig,
        {
            "run_dir": str(tmp_path / "run"),
            "seed": 0,
            "max_steps": 2,
            "model": {"path": str(tiny_model)},
            "env": {"id": "code-python-v0", "kwargs": {"max_turns": 2}},
            "rollout": {"engine": "hf", "groups_per_step": 2, "group_size": 2, "max_tokens": 8},
            "sandbox": {"backend": f"counting-{backend}", "pool_size": 2},
            "optim": {"lr": 1e-3, "micro_batch_size": 4},
            "eval": {"episodes": 0},
            "checkpoint": {"every": 2, "keep": 1},
            "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
        },
    ).validate()
    Trainer(config).fit()
    metrics = read_metrics(config.run_dir)
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["episodes/dropped"] == 0 for m in metrics), metrics
    # 2 steps x 4 episodes, each with its own fresh session (plus the warm pool's spares), all destroyed
    assert len(counting_backend) >= 8 and len({s.id for s in counting_backend}) == len(counting_backend)
    assert all(s.closed for s in counting_backend), "a session outlived training"
    assert not host_state.leaks(wait_s=30), "training left sandboxes behind"
