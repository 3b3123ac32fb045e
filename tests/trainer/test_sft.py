"""`verigym sft`: loss only on policy tokens, the reward filter, the split, batching, and a model every
policy and `verigym train` can load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from verigym.agents.records import EpisodeRecord, write_episodes
from verigym.trainer.sft import (
    SFTDataConfig,
    SFTExample,
    collate,
    is_held_out,
    length_batches,
    load_sft_data,
    run_sft,
    select_records,
    sft_config_from_dict,
    sft_loss,
)

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


def _record(seed: int, reward: float, ids: list[int] | None, mask: list[int] | None, dropped: bool = False, success: bool = False) -> EpisodeRecord:
    return EpisodeRecord(
        env_id="toy", task_id=f"t{seed}", seed=seed, policy="p", total_reward=reward, success=success,
        token_ids=ids, loss_mask=mask, dropped=dropped, drop_reason="env" if dropped else None,
    )


@pytest.fixture(scope="module")
def oracle_file(tiny_model_dir, tmp_path_factory) -> Path:
    """Oracle beam-statics episodes tokenized with the tiny model's tokenizer (ids + loss masks)."""
    from transformers import AutoTokenizer

    from verigym.agents.collect import collect
    from verigym.agents.scripted import OraclePolicy

    out = tmp_path_factory.mktemp("sft") / "oracle.parquet"
    env_kwargs = {"categories": ["cantilever/moment"], "max_loads": 1, "lengths": [2, 3], "max_checks": 1, "max_turns": 2}
    collect("beam-statics-v0", OraclePolicy(), list(range(24)), env_kwargs=env_kwargs,
            tokenizer=AutoTokenizer.from_pretrained(str(tiny_model_dir)), out=out, schedule="lockstep")
    return out


def test_loss_is_the_mean_nll_of_policy_tokens_only(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    prompt, reply, obs = [5, 6, 7, 8], [40, 41, 42], [9, 10, 11, 12, 13]
    ex = SFTExample(prompt + reply + obs, [0] * 4 + [1] * 3 + [0] * 5, 0)
    ids, attn, mask = collate([ex], pad_id=0)
    loss, n = sft_loss(model, ids, attn, mask)
    logits = model(input_ids=ids, attention_mask=attn).logits.log_softmax(-1)
    manual = -sum(logits[0, t - 1, ids[0, t]] for t in range(4, 7)) / 3
    assert n == 3 and torch.allclose(loss, manual, atol=1e-5)

    # gradient: zero on every observation token after the reply (neither a target nor context of one; the
    # last reply token is a target only) ...
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    model_in = lambda: model.model(inputs_embeds=embeds, attention_mask=attn).last_hidden_state  # noqa: E731
    hidden = model_in()
    logp = model.lm_head(hidden).log_softmax(-1)
    loss2 = -(logp[0, 3:6].gather(-1, ids[0, 4:7, None]).sum()) / 3
    loss2.backward()
    grad = embeds.grad[0].abs().sum(-1)
    assert torch.all(grad[6:] == 0) and torch.all(grad[:6] > 0)
    # ... and changing the observation tokens (or the padding) leaves the loss unchanged
    ex_other = SFTExample(prompt + reply + [99, 98, 97, 96, 95], ex.loss_mask, 0)
    ids2, attn2, mask2 = collate([ex_other, SFTExample(prompt + reply, [0] * 4 + [1] * 3, 1)], pad_id=0)
    loss_b, n_b = sft_loss(model, ids2, attn2, mask2)
    assert n_b == 6 and torch.allclose(loss_b, loss, atol=1e-5)


def test_sft_loss_has_no_gradient_from_observation_targets(tiny_model_dir):
    """Masked-out positions never reach the LM head: zeroing the mask there equals dropping them."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    ex = SFTExample([3, 4, 5, 6, 7, 8, 9, 10], [0, 0, 1, 1, 0, 0, 1, 0], 0)
    ids, attn, mask = collate([ex], 0)
    loss, _ = sft_loss(model, ids, attn, mask)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    logp = model(input_ids=ids, attention_mask=attn).logits.log_softmax(-1)
    manual = -(logp[0, [1, 2, 5], [5, 6, 9]]).sum() / 3
    manual.backward()
    for k, p in model.named_parameters():
        assert torch.allclose(grads[k], p.grad, atol=1e-6), k


def test_filters_split_and_batches(tmp_path):
    records = [
        _record(0, 1.25, [1, 2, 3], [0, 1, 1], success=True),
        _record(1, 0.05, [1, 2, 3, 4], [0, 0, 1, 1]),
        _record(2, 1.0, [1, 2], [0, 0]),  # no policy token
        _record(3, 1.0, None, None),  # text only
        _record(4, 1.25, [1, 2, 3], [0, 1, 1], dropped=True),
    ]
    kept, skipped = select_records(records, SFTDataConfig(min_reward=1.0))
    assert [r.seed for r in kept] == [0] and skipped == {"dropped": 1, "no_tokens": 2, "reward": 1, "failed": 0, "too_long": 0}
    kept, skipped = select_records(records, SFTDataConfig())
    assert [r.seed for r in kept] == [0, 1]
    kept, _ = select_records(records, SFTDataConfig(only_success=True))
    assert [r.seed for r in kept] == [0]

    many = [_record(s, float(s % 3), list(range(1, 3 + s % 7)), [0] + [1] * (1 + s % 7), success=s % 3 == 2) for s in range(200)]
    path = write_episodes(tmp_path / "e.parquet", many)
    data = load_sft_data(SFTDataConfig(files=[str(tmp_path / "*.parquet")], min_reward=1.0, eval_fraction=0.2), seed=0)
    assert len(data.train) + len(data.held_out) == sum(1 for s in range(200) if s % 3) and data.skipped["reward"] == 67
    assert not {e.group for e in data.train} & {e.group for e in data.held_out}
    assert 0.1 < len(data.held_out) / (len(data.train) + len(data.held_out)) < 0.3
    assert all(is_held_out(e.group, 0.2, 0) for e in data.held_out)
    with pytest.raises(ValueError, match="lower data.min_reward"):
        load_sft_data(SFTDataConfig(files=[str(path)], min_reward=5.0))
    with pytest.raises(FileNotFoundError, match="no episode file"):
        load_sft_data(SFTDataConfig(files=[str(tmp_path / "missing.parquet")]))

    batches = length_batches(data.train, 8, rng=None)
    assert sorted(i for b in batches for i in b) == list(range(len(data.train)))
    lengths = [[len(data.train[i].token_ids) for i in b] for b in batches]
    assert all(max(a) <= min(b) for a, b in zip(lengths, lengths[1:]))  # sorted by length, cut in order
    import random

    shuffled = length_batches(data.train, 8, rng=random.Random(0))
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, batches))


def test_sft_run_lowers_held_out_loss_and_writes_a_loadable_model(tiny_model_dir, oracle_file, tmp_path):
    cfg = sft_config_from_dict({
        "run_dir": str(tmp_path / "sft"),
        "model": {"path": str(tiny_model_dir)},
        "data": {"files": [str(oracle_file)], "eval_fraction": 0.25, "min_reward": 1.0},
        "train": {"epochs": 3, "batch_size": 4, "eval_every": 2, "checkpoint_every": 3, "keep_checkpoints": 1, "torch_threads": 1},
        "optim": {"lr": 3e-3},
        "log": {"progress": False, "plot_at_end": False},
    })
    threads = torch.get_num_threads()
    result = run_sft(cfg)
    assert torch.get_num_threads() == threads  # torch_threads applies to the run only
    assert result["eval_loss_after"] < result["eval_loss_before"] - 0.5, result
    lines = [json.loads(x) for x in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == 0 and "eval/loss" in lines[0] and lines[-1].get("final") == 1
    assert any("loss/sft" in x and "lr" in x and "grad_norm" in x for x in lines)
    assert len(list((tmp_path / "sft" / "checkpoints").glob("step-*"))) == 1

    final = Path(result["final_model"])
    from verigym.agents.hf_policy import HFPolicy
    from verigym.agents.policy import GenerationRequest, SamplingParams

    policy = HFPolicy(final)
    out = policy.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}])], SamplingParams(temperature=0.0, max_tokens=4))
    assert out[0].token_ids and out[0].error is None

    from verigym.trainer.config import load_config

    train_cfg = load_config(CONFIGS / "smoke_copy_digits.toml", {"model.path": str(final), "model.build_tiny": False})
    from verigym.trainer.model import load_policy_model

    model = load_policy_model(train_cfg.model, torch.device("cpu"), torch.float32)
    assert model.get_input_embeddings().num_embeddings == policy.model.get_input_embeddings().num_embeddings


def test_cli_oracle_episodes_with_tokenizer_then_sft_with_min_reward_flag(tiny_model_dir, tmp_path, capsys):
    from verigym.agents.records import read_episodes
    from verigym.cli import main

    episodes = tmp_path / "oracle.parquet"
    assert main(["run", "beam-statics-v0", "--agent", "oracle", "-n", "6", "--tokenizer", str(tiny_model_dir),
                 "--out", str(episodes), "--no-progress", "--env-arg", 'categories=["cantilever/moment"]']) == 0
    records = read_episodes(episodes)
    assert all(r.token_ids and sum(r.loss_mask) > 0 and len(r.token_ids) == len(r.loss_mask) for r in records)
    rc = main(["sft", "--data", str(episodes), "--model", str(tiny_model_dir), "--min-reward", "1.0",
               "--run-dir", str(tmp_path / "cli"), "--no-progress", "--set", "train.max_steps=2", "--set", "log.plot_at_end=false"])
    assert rc == 0
    assert "held-out loss" in capsys.readouterr().out
    saved = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert saved["data"]["min_reward"] == 1.0 and saved["train"]["max_steps"] == 2
    assert (tmp_path / "cli" / "final-model" / "config.json").is_file()


def test_sft_config_refuses_unknown_keys():
    with pytest.raises(ValueError, match="unknown key"):
        sft_config_from_dict({"train": {"step": 3}})
    with pytest.raises(ValueError, match="eval_fraction"):
        sft_config_from_dict({"data": {"eval_fraction": 1.5}})
