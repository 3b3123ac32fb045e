"""torchrun data parallelism: a 2-process FSDP2 update (CPU, gloo) equals the 1-process update on the same
batch, and a torchrun checkpoint resumes to the same weights. Run as a script, this file is the worker."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from verigym.trainer.batch import TrainBatch
from verigym.trainer.config import OptimConfig
from verigym.trainer.distributed import DistContext, context_from_env
from verigym.trainer.losses import LossConfig

# fp32 on CPU: the 2-rank gradient is a different summation order (two half-sums, averaged x2), so weights
# agree to float rounding, not bit for bit.
ATOL, RTOL = 1e-6, 1e-4
WORLD = 2


def tiny_lm(seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True)
    return Qwen2ForCausalLM(cfg).float()


def random_batch(n: int, seed: int, vocab: int = 32) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 12, (n,), generator=g)
    length = int(lengths.max())
    attn = (torch.arange(length)[None] < lengths[:, None]).long()
    ids = torch.randint(0, vocab, (n, length), generator=g) * attn
    mask = ((torch.rand(n, length, generator=g) > 0.3) & attn.bool()).float()
    mask[:, 0] = 0
    mask[torch.arange(n), lengths - 1] = 1.0  # every row has a policy token (as the loop guarantees)
    adv = torch.randn(n, length, generator=g) * mask
    rollout = -torch.rand(n, length, generator=g) * 3 * mask
    return TrainBatch(ids, attn, mask, rollout, adv)


# step 1: 5 rows over 2 ranks with micro-batches of 1 (rank 1 runs a padding micro-batch), entropy bonus;
# step 2: two mini-batches (old-policy logprobs, two optimizer steps), another aggregation
STEPS = [
    (random_batch(5, seed=1), LossConfig(aggregation="token-mean", entropy_coef=0.01), OptimConfig(micro_batch_size=1, grad_clip=0.0)),
    (random_batch(8, seed=2), LossConfig(aggregation="seq-mean-token-mean"), OptimConfig(micro_batch_size=3, mini_batches=2, grad_clip=1.0)),
]


def make_optimizer(model):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)  # momentum: optimizer state to shard and resume
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)


def run_steps(model, optimizer, scheduler, steps):
    from verigym.trainer.update import update_policy

    return [update_policy(model, optimizer, scheduler, b, loss, optim, torch.device("cpu")).metrics for b, loss, optim in steps]


def worker(out: Path) -> None:
    """Under torchrun, as the trainer runs: rank 0 drives a `RankGroup` (step 1, checkpoint, step 2, gather)
    while the other ranks follow; then every rank resumes from the checkpoint and step 2 is redone."""
    from verigym.trainer.checkpoint import TrainerState, save_checkpoint
    from verigym.trainer.distributed import RankGroup, init_distributed, shard_model, shutdown

    ctx, device = init_distributed(torch.device("cpu"))

    def group(seed: int) -> RankGroup:
        model = shard_model(tiny_lm(seed), ctx)
        return RankGroup(ctx, model, *make_optimizer(model), device)

    ranks = group(seed=0)
    layer_weight = ranks.model.module.model.layers[0].mlp.up_proj.weight
    info = {"world_size": ctx.world_size, "param_type": type(layer_weight).__name__, "local_rows": layer_weight.to_local().shape[0]}
    if ctx.is_main:
        m1 = [ranks.update(*step).metrics for step in STEPS[:1]]
        w1 = ranks.weights().state_dict()
        save_checkpoint(out, TrainerState(step=1, world_size=ctx.world_size), *ranks.checkpoint_states(), ranks.scheduler, {})
        m2 = [ranks.update(*step).metrics for step in STEPS[1:]]
        w2 = ranks.weights().state_dict()
        exported = ranks.export_model().state_dict()
        ranks.stop()
    else:
        ranks.follow()

    resumed = group(seed=123)  # another init: the checkpoint must overwrite it
    state = resumed.load_checkpoint(out / "checkpoints" / "step-000001")
    if ctx.is_main:
        m2r = [resumed.update(*step).metrics for step in STEPS[1:]]
        w2r = resumed.weights().state_dict()
        resumed.stop()
        torch.save({"w1": w1, "w2": w2, "w2r": w2r, "exported": exported}, out / "weights.pt")
        (out / "result.json").write_text(json.dumps({**info, "m1": m1, "m2": m2, "m2r": m2r, "resumed_step": state.step}))
    else:
        resumed.follow()
    shutdown(ctx)


def loop_config(run_dir: Path, model_dir: Path):
    from verigym.trainer.config import TrainerConfig, from_dict

    data = {
        "run_dir": str(run_dir), "seed": 3, "max_steps": 3, "model": {"path": str(model_dir)},
        "env": {"id": register_dense_env(), "kwargs": {}},
        "rollout": {"engine": "hf", "groups_per_step": 2, "group_size": 4, "max_tokens": 5},
        "optim": {"lr": 1e-2, "micro_batch_size": 3},
        "eval": {"episodes": 0}, "checkpoint": {"every": 1, "keep": 3},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }
    return from_dict(TrainerConfig, data).validate()


def register_dense_env() -> str:
    """`dense-length-v0` (as in conftest): reward = answer length, so a random model gets advantages."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class LengthEnv(CopyDigitsEnv):
        env_id = "dense-length-v0"

        def on_turn(self, action):
            value = min(len(action) / 40.0, 1.0)
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(False, value, {"format": value, "numeric": 0.0, "digits": 0.0, "correct": 0.0}))

    if "dense-length-v0" not in get_registry().envs.names():
        register_env("dense-length-v0", LengthEnv)
    return "dense-length-v0"


def loop_worker(out: Path, model_dir: Path) -> None:
    """Under torchrun: the real trainer loop, uninterrupted, and stopped after step 2 then resumed."""
    from verigym.trainer.distributed import init_distributed, shutdown
    from verigym.trainer.loop import Trainer

    ctx, _ = init_distributed(torch.device("cpu"))  # one group for the three runs (each fit leaves it open)
    Trainer(loop_config(out / "full", model_dir)).fit()
    Trainer(loop_config(out / "cut", model_dir), stop_after=2).fit()
    Trainer(loop_config(out / "cut", model_dir)).fit()
    shutdown(ctx)


def torchrun(*args: str, timeout: float) -> None:
    """`torchrun --standalone --nproc-per-node 2 THIS_FILE ARGS`; on a timeout the whole process group is
    killed (no orphaned workers), and a failure shows the workers' output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={WORLD}", __file__, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun timed out after {timeout} s:\n{out[-6000:]}")
    assert proc.returncode == 0, out[-8000:]


def test_context_from_env_and_row_shards():
    assert context_from_env({}) == DistContext()
    assert context_from_env({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}) == DistContext(2, 1, 1)
    with pytest.raises(RuntimeError, match="torchrun"):
        context_from_env({"WORLD_SIZE": "2"})
    for n, size in [(5, 1), (8, 3), (1, 4), (7, 2)]:
        per_rank = [list(DistContext(WORLD, r).micro_batches(10, 10 + n, size)) for r in range(WORLD)]
        assert len({len(mbs) for mbs in per_rank}) == 1  # the same number of forward/backward collectives
        real_rows = sorted(i for mbs in per_rank for rows, real in mbs if real for i in range(rows.start, rows.stop))
        assert real_rows == list(range(10, 10 + n))  # every row exactly once


def test_a_checkpoint_resumes_only_under_the_world_size_that_wrote_it(tmp_path):
    from verigym.trainer.checkpoint import TrainerState, save_checkpoint
    from verigym.trainer.distributed import RankGroup

    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer(model)
    path = save_checkpoint(tmp_path, TrainerState(step=1, world_size=2), model, optimizer, scheduler, {})
    with pytest.raises(RuntimeError, match="torchrun --nproc-per-node 2"):
        RankGroup(DistContext(), model, optimizer, scheduler, torch.device("cpu")).load_checkpoint(path)
    path = save_checkpoint(tmp_path, TrainerState(step=2), model, optimizer, scheduler, {})
    assert RankGroup(DistContext(), model, optimizer, scheduler, torch.device("cpu")).load_checkpoint(path).step == 2


def test_lora_under_torchrun_is_refused_with_what_to_do():
    from verigym.trainer.distributed import shard_model

    model = torch.nn.Linear(2, 2)
    model.peft_config = {"default": None}
    with pytest.raises(ValueError, match="LoRA"):
        shard_model(model, DistContext(2, 0, 0))
    assert shard_model(model, DistContext()) is model  # single-process: untouched


@pytest.mark.timeout(240)
def test_two_process_fsdp2_update_matches_single_process_and_resumes(tmp_path):
    torchrun(str(tmp_path), timeout=200)
    result = json.loads((tmp_path / "result.json").read_text())
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert result["world_size"] == WORLD and result["param_type"] == "DTensor" and result["local_rows"] == 64 // WORLD  # really sharded

    model = tiny_lm()
    optimizer, scheduler = make_optimizer(model)
    before = copy.deepcopy(model.state_dict())
    single = run_steps(model, optimizer, scheduler, STEPS[:1])
    single_w1 = copy.deepcopy(model.state_dict())
    single += run_steps(model, optimizer, scheduler, STEPS[1:])
    for name, value in model.state_dict().items():
        torch.testing.assert_close(weights["w1"][name], single_w1[name], atol=ATOL, rtol=RTOL, msg=lambda m: f"{name} after step 1: {m}")
        torch.testing.assert_close(weights["w2"][name], value, atol=ATOL, rtol=RTOL, msg=lambda m: f"{name} after step 2: {m}")
    assert any(not torch.equal(before[k], v) for k, v in single_w1.items())  # the steps moved the weights
    for distributed, one in zip(result["m1"] + result["m2"], single):
        for key in ("loss/pg", "loss/clipfrac", "loss/ratio_mean", "grad_norm", "entropy", "mismatch/kl_k3"):
            if key in one:
                assert distributed[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6, nan_ok=True), key

    # resume on the same world size: the checkpoint restores weights and momentum exactly
    assert result["resumed_step"] == 1
    assert result["m2r"] == result["m2"]
    for name, value in weights["w2"].items():
        assert torch.equal(weights["w2r"][name], value), name
        assert torch.equal(weights["exported"][name], value), name  # the final export is the trained model


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_trainer_loop_under_torchrun_matches_single_process_and_resumes_exactly(tmp_path, tiny_model_dir):
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    torchrun("loop", str(tmp_path), str(tiny_model_dir), timeout=300)
    Trainer(loop_config(tmp_path / "single", tiny_model_dir)).fit()

    def stable(run):
        return [{k: v for k, v in r.items() if not k.startswith(("time/", "tokens_per_s"))} for r in read_metrics(tmp_path / run)]

    full, cut, single = stable("full"), stable("cut"), stable("single")
    assert [r["step"] for r in full] == [1, 2, 3] and cut == full  # resume under torchrun is exact
    assert all(r["grad_norm"] > 0 for r in full)
    for d, s in zip(full, single):  # rank 0's engine copy gets the synced weights: same samples, same update
        assert d["reward/mean"] == s["reward/mean"]
        for key in ("loss/pg", "grad_norm", "entropy"):
            if key in s:
                assert d[key] == pytest.approx(s[key], rel=1e-4, abs=1e-6, nan_ok=True), (d["step"], key)
    state = json.loads((sorted((tmp_path / "full" / "checkpoints").iterdir())[-1] / "trainer_state.json").read_text())
    assert state["world_size"] == WORLD
    assert (tmp_path / "full" / "final-model" / "model.safetensors").is_file()


if __name__ == "__main__":
    if sys.argv[1] == "loop":
        loop_worker(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        worker(Path(sys.argv[1]))
