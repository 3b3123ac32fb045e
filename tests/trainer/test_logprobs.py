"""Log-probs and entropies only at policy positions, in chunks: same numbers, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from verigym.trainer.logprobs import chunk_tokens_for, sequence_logprobs, split_lm


def tiny_lm(vocab=40, layers=1, tie=False):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=tie)
    return Qwen2ForCausalLM(cfg).float()


def full_logits_reference(model, ids, attn):
    """What the trainer computed before: full-vocabulary logits at every position, then gather."""
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def padded_batch(seed: int, padded_row: int, pad_from: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """4 x 40 random ids, one row padded from `pad_from`, and ~80% of the real positions wanted."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 40, (4, 40), generator=g)
    attn = torch.ones_like(ids)
    attn[padded_row, pad_from:] = 0
    return ids, attn, (torch.rand(4, 40, generator=g) > 0.2).long() * attn


def test_values_equal_full_logits_and_every_chunk_size_bit_for_bit():
    model = tiny_lm()
    ids, attn, positions = padded_batch(seed=0, padded_row=1, pad_from=12)
    ref_lp, ref_ent = full_logits_reference(model, ids, attn)
    wanted = positions.bool().clone()
    wanted[:, 0] = False
    with torch.no_grad():
        for chunk in (1, 16, 40, 1000):  # 1 is raised to MIN_CHUNK_ROWS
            lp, ent = sequence_logprobs(model, ids, attn, positions, want_entropy=True, chunk_tokens=chunk)
            assert torch.equal(lp[:, 1:][wanted[:, 1:]], ref_lp[wanted[:, 1:]]), chunk
            assert torch.equal(ent[:, 1:][wanted[:, 1:]], ref_ent[wanted[:, 1:]]), chunk
            assert (lp[~wanted] == 0).all() and (ent[~wanted] == 0).all()


@pytest.mark.parametrize("tie", [False, True])
def test_chunked_gradients_match_unchunked(tie):
    grads = []
    for chunk in (1000, 16):
        model = tiny_lm(tie=tie)
        ids = torch.randint(0, 40, (2, 40), generator=torch.Generator().manual_seed(1))
        lp, ent = sequence_logprobs(model, ids, torch.ones_like(ids), want_entropy=True, entropy_grad=True, chunk_tokens=chunk)
        (lp.sum() + 0.1 * ent.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)
    assert grads[0].abs().sum() > 0


def test_lora_model_splits_into_backbone_and_head():
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(tiny_lm(), peft.LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    assert split_lm(model) is not None
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        lp, _ = sequence_logprobs(model, ids, torch.ones_like(ids))
        ref, _ = full_logits_reference(model, ids, torch.ones_like(ids))
    assert torch.equal(lp[:, 1:], ref)


def test_chunk_size_follows_the_memory_budget():
    assert chunk_tokens_for(151_936, 64.0) == 110  # 64 MiB / (4 B x 151,936)
    assert chunk_tokens_for(512, 64.0) == 32_768
    assert chunk_tokens_for(10**9, 1.0) == 1


REAL_VOCAB = 151_936
EPISODE = 2048
CHUNK_MIB = 64.0  # the default; above glibc's 32 MiB mmap ceiling, so freed chunks go back to the OS at once
# The bound for the chunked pass: a chunk's logits and its three same-sized temporaries (log-softmax,
# exp, product) = 4 x CHUNK_MIB, plus 96 MiB for activations of a 2,048-token episode and allocator slack.
BOUND_MIB = 4 * CHUNK_MIB + 96

_PASS = r"""
import json, sys, torch
from transformers import Qwen2Config, Qwen2ForCausalLM
from verigym.trainer.logprobs import sequence_logprobs
def status_kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))
mode, out, vocab, length, chunk_mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=1,
                  num_key_value_heads=1, max_position_embeddings=4096, tie_word_embeddings=True)
model = Qwen2ForCausalLM(cfg).float().eval()
ids = torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(1))
attn = torch.ones_like(ids)
with torch.no_grad():
    sequence_logprobs(model, ids[:, :8], attn[:, :8], want_entropy=True)  # warm up kernels and allocator
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: nothing earlier counts
    before = status_kib("VmRSS")
    if mode == "chunked":
        lp, ent = sequence_logprobs(model, ids, attn, want_entropy=True, chunk_mib=chunk_mib)
        lp, ent = lp[:, 1:], ent[:, 1:]
    else:  # the trainer's former computation: full-vocabulary logits at every position
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
        logp_all = torch.log_softmax(logits, dim=-1)
        lp = logp_all.gather(-1, ids[:, 1:, None]).squeeze(-1)
        ent = -(logp_all.exp() * logp_all).sum(-1)
    peak = status_kib("VmHWM")
torch.save({"logp": lp, "entropy": ent}, out)
print(json.dumps({"peak_increase_mib": (peak - before) / 1024}))
"""


def _run_pass(mode, tmp_path):
    out = tmp_path / f"{mode}.pt"
    proc = subprocess.run([sys.executable, "-c", _PASS, mode, str(out), str(REAL_VOCAB), str(EPISODE), str(CHUNK_MIB)],
                          capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_increase_mib"], torch.load(out)


@pytest.mark.timeout(900)  # ~30 s of CPU; minutes of wall time on a loaded 2-core machine
def test_real_vocabulary_long_episode_bounded_memory_and_identical_values(tmp_path):
    """Vocabulary 151,936 and a 2,048-token episode: the chunked logprob pass raises peak memory by less
    than BOUND_MIB (352 MiB with 64 MiB chunks; measured 231 MiB); the full-logits pass needs > 2 GiB (measured 4.7 GiB); the values are identical bit for bit."""
    chunked_mib, chunked = _run_pass("chunked", tmp_path)
    full_mib, full = _run_pass("full", tmp_path)
    full_logits_mib = (EPISODE - 1) * REAL_VOCAB * 4 / 2**20  # 1,160 MiB for one fp32 copy
    print(f"peak increase: chunked {chunked_mib:.0f} MiB (bound {BOUND_MIB:.0f}), full logits {full_mib:.0f} MiB")
    assert chunked_mib < BOUND_MIB
    assert full_mib > full_logits_mib * 0.9  # the measurement sees at least one full copy of the logits
    assert torch.equal(chunked["logp"], full["logp"])
    assert torch.equal(chunked["entropy"], full["entropy"])


def tempered_reference(model, ids, attn, temperature):
    """log_softmax(full logits / T) at every position, gathered at the next tokens, and its entropy."""
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    return logp_all.gather(-1, ids[:, 1:, None]).squeeze(-1), -(logp_all.exp() * logp_all).sum(-1)


def full_logits_only(model):
    """The same model, but `split_lm` refuses it (a head transform it cannot split off): the fallback path."""
    import copy

    other = copy.deepcopy(model)
    other.config.final_logit_softcapping = 30.0  # Qwen2's forward ignores it; `split_lm` does not
    assert split_lm(other) is None
    return other


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_tempered_values_are_log_softmax_of_logits_over_t_on_every_path(temperature):
    """Chunked head (several chunks and one), full-logits fallback and the FSDP2 root's forward all give
    log_softmax(logits / T) and its entropy within 1e-6 (measured: identical in fp32 on CPU)."""
    from verigym.trainer.logprobs import ShardedPolicy

    model = tiny_lm()
    ids, attn, positions = padded_batch(seed=4, padded_row=2, pad_from=15)
    wanted = positions.bool().clone()
    wanted[:, 0] = False
    w = wanted[:, 1:]
    with torch.no_grad():
        ref_lp, ref_ent = tempered_reference(model, ids, attn, temperature)
        raw_lp, _ = full_logits_reference(model, ids, attn)
        paths = {
            "chunks of 16": (model, {"chunk_tokens": 16}),
            "one chunk": (model, {"chunk_tokens": 1000}),
            "full logits": (full_logits_only(model), {}),
            "FSDP2 root": (ShardedPolicy(model), {"chunk_tokens": 16}),
        }
        for name, (m, kwargs) in paths.items():
            lp, ent = sequence_logprobs(m, ids, attn, positions, want_entropy=True, temperature=temperature, **kwargs)
            assert (lp[:, 1:][w] - ref_lp[w]).abs().max() <= 1e-6, name
            assert (ent[:, 1:][w] - ref_ent[w]).abs().max() <= 1e-6, name
            assert (lp[~wanted] == 0).all() and (ent[~wanted] == 0).all(), name
    assert (ref_lp[w] - raw_lp[w]).abs().max() > 0.05  # the temperature matters at these values


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_tempered_gradients_of_checkpointed_chunks_match_full_logits(temperature):
    """With gradients, the checkpointed chunks recompute their logits at the same temperature."""
    ids = torch.randint(0, 40, (2, 40), generator=torch.Generator().manual_seed(5))
    grads = []
    for chunked in (True, False):
        model = tiny_lm()
        if chunked:
            lp, ent = sequence_logprobs(model, ids, torch.ones_like(ids), want_entropy=True, entropy_grad=True, chunk_tokens=16, temperature=temperature)
            lp, ent = lp[:, 1:], ent[:, 1:]
        else:
            lp, ent = tempered_reference(model, ids, torch.ones_like(ids), temperature)
        (lp.sum() + 0.1 * ent.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_temperature_one_is_the_untempered_computation_bit_for_bit():
    model = tiny_lm()
    ids = torch.randint(0, 40, (3, 30), generator=torch.Generator().manual_seed(6))
    attn = torch.ones_like(ids)
    for m, kwargs in ((model, {"chunk_tokens": 16}), (full_logits_only(model), {})):
        with torch.no_grad():
            default = sequence_logprobs(m, ids, attn, want_entropy=True, **kwargs)
            one = sequence_logprobs(m, ids, attn, want_entropy=True, temperature=1.0, **kwargs)
        assert torch.equal(default[0], one[0]) and torch.equal(default[1], one[1])
        ref_lp, ref_ent = full_logits_reference(m, ids, attn)
        assert torch.equal(one[0][:, 1:], ref_lp) and torch.equal(one[1][:, 1:], ref_ent)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sequence_logprobs(model, ids, attn, temperature=0.0)


def test_policy_temperature_maps_greedy_to_the_raw_distribution():
    from verigym.trainer.logprobs import policy_temperature

    assert policy_temperature(0.0) == 1.0 and policy_temperature(-1.0) == 1.0
    assert policy_temperature(0.7) == 0.7 and policy_temperature(2) == 2.0
