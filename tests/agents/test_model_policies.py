"""hf and in-process vLLM policies on the tiny model: greedy agreement, logprobs, weight updates, TITO."""

import pytest
import torch

from verigym.agents.chat_tokens import prompt_ids
from verigym.agents.collect import collect
from verigym.agents.policy import GenerationRequest, SamplingParams
from verigym.plugins.registry import make_policy

pytestmark = pytest.mark.vllm
GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
LOGPROB_TOLERANCE = 1e-4  # float32 on CPU; the observed max difference is ~5e-6


def beam_env():
    import verigym

    verigym.make("beam-statics-v0").close()  # a built-in env that cannot be built is a failure, never a skip
    return "beam-statics-v0"


def play(policy, seeds=(0, 1, 2), sampling=GREEDY, group_size=1):
    # lockstep: batch composition depends only on the seeds, so seeded sampling replays exactly
    return collect(beam_env(), policy, list(seeds), group_size=group_size, max_turns=3, sampling=sampling,
                   schedule="lockstep")


def forward_logprobs(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, -1)


def max_logprob_diff(model, record):
    """Largest |rollout logprob - transformers forward logprob| over the episode's policy tokens."""
    lp = forward_logprobs(model, record.token_ids)
    worst = 0.0
    for t, (tid, mask, rollout) in enumerate(zip(record.token_ids, record.loss_mask, record.logprobs)):
        if mask:
            worst = max(worst, abs(lp[t - 1, tid].item() - rollout))
    return worst


def test_greedy_multi_turn_episodes_agree_token_for_token(hf_policy, vllm_policy):
    hf, vl = play(hf_policy), play(vllm_policy)
    for a, b in zip(hf, vl):
        assert not a.dropped and not b.dropped, (a.error, b.error)
        assert a.turns == b.turns == 3
        assert a.token_ids == b.token_ids
        assert [t.action for t in a.turn_records] == [t.action for t in b.turn_records]
        assert a.loss_mask == b.loss_mask and a.turn_index == b.turn_index
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < LOGPROB_TOLERANCE


def test_vllm_logprobs_match_a_transformers_forward_pass(hf_policy, vllm_policy):
    records = play(vllm_policy, sampling=SamplingParams(temperature=1.0, max_tokens=24, seed=7))
    diffs = [max_logprob_diff(hf_policy.model, r) for r in records]
    print(f"max |vllm - transformers| logprob over {sum(sum(r.loss_mask) for r in records)} sampled tokens: {max(diffs):.2e}")
    assert max(diffs) < LOGPROB_TOLERANCE
    assert all(sum(r.loss_mask) > 0 for r in records)


def test_sampling_differs_within_a_group_and_is_seeded(vllm_policy):
    sampling = SamplingParams(temperature=1.0, max_tokens=16, seed=3)
    first = play(vllm_policy, seeds=[5], sampling=sampling, group_size=3)
    again = play(vllm_policy, seeds=[5], sampling=sampling, group_size=3)
    actions = [r.turn_records[0].action for r in first]
    assert len(set(actions)) == 3  # the group's samples differ
    assert actions == [r.turn_records[0].action for r in again]


def test_token_in_generation_continues_the_given_ids_exactly(hf_policy, vllm_policy):
    tok = hf_policy.tokenizer
    ids = prompt_ids(tok, [{"role": "user", "content": "first"}])
    # The messages disagree with the ids on purpose: the ids must win.
    request = GenerationRequest(messages=[{"role": "user", "content": "something else"}], prompt_token_ids=ids)
    from_ids = [p.generate([request], GREEDY)[0] for p in (hf_policy, vllm_policy)]
    from_messages = hf_policy.generate([GenerationRequest(messages=[{"role": "user", "content": "first"}])], GREEDY)[0]
    assert from_ids[0].token_ids == from_ids[1].token_ids == from_messages.token_ids
    assert len(from_ids[0].token_ids) == len(from_ids[0].logprobs) == 24 and from_ids[0].finish_reason == "length"
    assert from_ids[0].text == tok.decode(from_ids[0].token_ids, skip_special_tokens=True)


def test_update_weights_moves_both_engines_and_they_agree_again(hf_policy, vllm_policy):
    before = play(vllm_policy, seeds=[0])
    original = {k: v.clone() for k, v in hf_policy.model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    perturbed = {k: v + 0.05 * torch.randn(v.shape, generator=g) if v.dtype.is_floating_point else v for k, v in original.items()}
    perturbed["lm_head.weight"] = perturbed["model.embed_tokens.weight"]  # the tiny model ties them
    try:
        hf_policy.update_weights(perturbed.items())
        vllm_policy.update_weights(perturbed.items())
        hf, vl = play(hf_policy, seeds=[0]), play(vllm_policy, seeds=[0])
        assert hf[0].token_ids == vl[0].token_ids
        assert vl[0].token_ids != before[0].token_ids, "update_weights did not change vLLM's generations"
        assert max_logprob_diff(hf_policy.model, vl[0]) < LOGPROB_TOLERANCE
    finally:
        hf_policy.update_weights(original.items())
        vllm_policy.update_weights(original.items())
    assert play(vllm_policy, seeds=[0])[0].token_ids == before[0].token_ids


def test_bad_input_gets_clear_errors(hf_policy, vllm_policy, tiny_model):
    too_long = GenerationRequest(messages=[], prompt_token_ids=[1] * 5000)
    with pytest.raises(ValueError, match="max_model_len"):
        vllm_policy.generate([too_long], GREEDY)
    with pytest.raises(ValueError, match="empty prompt"):
        hf_policy.generate([GenerationRequest(messages=[], prompt_token_ids=[])], GREEDY)
    with pytest.raises(FileNotFoundError, match="verigym model tiny"):
        make_policy("hf", model=str(tiny_model / "nope"))
    with pytest.raises(KeyError, match="no parameter"):
        hf_policy.update_weights([("not.a.weight", torch.zeros(1))])


def test_policies_are_registered_with_a_model_kwarg(tiny_model):
    policy = make_policy("hf", model=str(tiny_model))
    assert policy.name == "hf" and policy.model_path == tiny_model and policy.tokenizer is not None


def test_an_engine_failure_fails_fast_afterwards_instead_of_hanging(vllm_policy, monkeypatch):
    from verigym.agents.vllm_policy import EngineFailedError

    request = GenerationRequest([{"role": "user", "content": "x"}])

    def explode(*args, **kwargs):
        raise RuntimeError("CPU Generator does not use offset")

    monkeypatch.setattr(vllm_policy.llm, "generate", explode)
    try:
        with pytest.raises(RuntimeError, match="offset"):
            vllm_policy.generate([request], GREEDY)
        monkeypatch.undo()
        with pytest.raises(EngineFailedError, match="create a new VllmPolicy"):
            vllm_policy.generate([request], GREEDY)
    finally:
        vllm_policy._failed = None
    assert vllm_policy.generate([request], GREEDY)[0].token_ids


def test_seeded_sampling_survives_chunked_prefill_of_a_large_batch(vllm_policy, tokenizer):
    """vLLM's CPU runner crashed on per-request seeds when a big batch's prefill was chunked."""
    requests = [GenerationRequest(messages=[], prompt_token_ids=[500 - (i % 7)] * 900) for i in range(12)]
    sampling = SamplingParams(temperature=1.0, max_tokens=4, seed=11)
    vllm_policy.llm.reset_prefix_cache()
    first = vllm_policy.generate(requests, sampling)
    assert all(len(c.token_ids) == 4 for c in first)
    # On CPU the seed is global per call: the same batch, scheduled the same way (cold cache), repeats.
    vllm_policy.llm.reset_prefix_cache()
    assert [c.token_ids for c in first] == [c.token_ids for c in vllm_policy.generate(requests, sampling)]


def test_hf_policy_over_a_trainers_loaded_model_keeps_its_mode(tiny_model, hf_policy):
    from transformers import AutoModelForCausalLM

    from verigym.agents.hf_policy import HFPolicy

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    model.config.use_cache = False
    model.train()
    shared = HFPolicy(model)  # tokenizer found through the model's directory
    request = GenerationRequest([{"role": "user", "content": "hi"}])
    assert shared.generate([request], GREEDY)[0].token_ids == hf_policy.generate([request], GREEDY)[0].token_ids
    assert model.training and shared.max_model_len == 4096


def test_continuous_batching_serves_concurrent_calls_with_the_same_greedy_tokens(vllm_policy, monkeypatch):
    """`concurrent_calls > 1`: calls from many threads feed one engine loop; greedy tokens are unchanged."""
    from concurrent.futures import ThreadPoolExecutor

    from verigym.agents.vllm_policy import EngineFailedError

    batched = play(vllm_policy)  # lockstep: one LLM.generate call per round
    requests = [GenerationRequest(messages=[], prompt_token_ids=[400 + i] * 20) for i in range(8)]
    alone = vllm_policy.generate(requests, SamplingParams(temperature=0.0, max_tokens=16))
    engine = vllm_policy.llm.llm_engine
    steps = []
    real_step = engine.step
    vllm_policy.concurrent_calls = 8
    try:
        # the pipelined collector sends one request per episode turn, several calls in flight
        records = collect(beam_env(), vllm_policy, [0, 1, 2], max_turns=3, sampling=GREEDY)
        monkeypatch.setattr(engine, "step", lambda: steps.append(1) or real_step())
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda r: vllm_policy.generate([r], SamplingParams(temperature=0.0, max_tokens=16))[0], requests))

        def explode():
            raise RuntimeError("engine step failed")

        monkeypatch.setattr(engine, "step", explode)
        with pytest.raises(EngineFailedError, match="engine step failed"):
            vllm_policy.generate(requests[:2], GREEDY)
        monkeypatch.setattr(engine, "step", real_step)
        with pytest.raises(EngineFailedError, match="create a new VllmPolicy"):
            vllm_policy.generate(requests[:1], GREEDY)
    finally:
        vllm_policy.concurrent_calls = 1
        vllm_policy._failed = None
    for a, b in zip(batched, records):
        assert not b.dropped, b.error
        assert a.token_ids == b.token_ids and a.loss_mask == b.loss_mask
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < LOGPROB_TOLERANCE
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]
    assert len(steps) < 8 * 16 / 2, f"{len(steps)} engine steps for 8 concurrent 16-token calls: they were not batched"
    assert not engine.has_unfinished_requests()
    assert vllm_policy.generate(requests[:1], GREEDY)[0].token_ids  # the one-call path works again


def test_hf_prefills_a_repeated_prompt_once_with_the_same_tokens_and_logprobs(hf_policy, tokenizer):
    from verigym.agents.hf_policy import HFPolicy

    separate = HFPolicy(hf_policy.model, tokenizer=tokenizer, batch_size=64, share_prompts=False)
    shared = HFPolicy(hf_policy.model, tokenizer=tokenizer, batch_size=64)
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": text}]) for text in ("a", "copy 123 please", "beam of 4L", "alone")]
    requests = [GenerationRequest(messages=[], prompt_token_ids=p, env=None, seed=0) for p in prompts[:3] for _ in range(4)]
    requests.append(GenerationRequest(messages=[], prompt_token_ids=prompts[3], env=None, seed=0))
    greedy = SamplingParams(temperature=0.0, max_tokens=12)
    a, b = separate.generate(requests, greedy), shared.generate(requests, greedy)
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert max(abs(x - y) for ca, cb in zip(a, b) for x, y in zip(ca.logprobs, cb.logprobs)) < 1e-4
    calls = []
    real = shared._shared_prefill
    shared._shared_prefill = lambda ids, mask: calls.append(real(ids, mask)) or calls[-1]
    shared.generate(requests, greedy)
    shared.generate([requests[0], requests[4], requests[8], requests[12]], greedy)  # all distinct: generate prefills
    assert calls[0] is not None and calls[0].get_seq_length() > 0 and calls[1] is None


def test_vllm_on_cpu_uses_kv_blocks_small_enough_for_a_group_to_share_its_prompt(vllm_policy):
    from verigym.agents.vllm_policy import CPU_BLOCK_SIZE

    cache = vllm_policy.llm.llm_engine.vllm_config.cache_config
    if torch.cuda.is_available():
        pytest.skip("the block size is only chosen on CPU")
    assert cache.block_size == CPU_BLOCK_SIZE == 32 and cache.enable_prefix_caching


TEMPERATURE = 1.5


def trainer_logprobs(model, completions, prompts, temperature):
    """The trainer's `sequence_logprobs(temperature=...)` of each completion's tokens after its prompt."""
    from verigym.trainer.logprobs import sequence_logprobs

    out = []
    for prompt, completion in zip(prompts, completions):
        ids = torch.tensor([list(prompt) + list(completion.token_ids)])
        positions = torch.zeros_like(ids)
        positions[0, len(prompt):] = 1
        with torch.no_grad():
            lp, _ = sequence_logprobs(model, ids, torch.ones_like(ids), positions, temperature=temperature)
        out.append(lp[0, len(prompt):].tolist())
    return out


def logprob_diff(completions, expected):
    return max(abs(x - y) for c, e in zip(completions, expected) for x, y in zip(c.logprobs, e, strict=True))


def tempered_requests(tokenizer):
    texts = ("copy 123 please", "beam of 4L", "hi")
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": t}]) for t in texts]
    return prompts, [GenerationRequest(messages=[], prompt_token_ids=p) for p in prompts for _ in range(2)], [p for p in prompts for _ in range(2)]


def test_hf_reports_logprobs_of_the_tempered_distribution(hf_policy, tokenizer):
    """Sampling at T = 1.5, HFPolicy reports log_softmax(logits / 1.5): the trainer's values at that
    temperature within 1e-4 (measured max |diff| 1.4e-6; the raw ones are 0.7 off); greedy stays raw (2.2e-6)."""
    _, requests, prompts = tempered_requests(tokenizer)
    sampled = hf_policy.generate(requests, SamplingParams(temperature=TEMPERATURE, max_tokens=16, seed=0))
    assert sum(len(c.token_ids) for c in sampled) > 30
    assert logprob_diff(sampled, trainer_logprobs(hf_policy.model, sampled, prompts, TEMPERATURE)) < 1e-4
    assert logprob_diff(sampled, trainer_logprobs(hf_policy.model, sampled, prompts, 1.0)) > 0.05
    greedy = hf_policy.generate(requests[:1], SamplingParams(temperature=0.0, max_tokens=16))
    assert logprob_diff(greedy, trainer_logprobs(hf_policy.model, greedy, prompts[:1], 1.0)) < 1e-4


# vLLM (CPU build, fp32) against the trainer's forward: measured max |diff| 1.9e-6 at T = 1.5 over 6 samples of
# 16 tokens, 3.3e-6 greedy (raw), the same order as at T = 1; the tolerance is the module's LOGPROB_TOLERANCE.
VLLM_TEMPERED_TOLERANCE = LOGPROB_TOLERANCE


def test_vllm_reports_processed_logprobs_of_the_tempered_distribution(hf_policy, vllm_policy, tokenizer):
    """The engine runs with logprobs_mode="processed_logprobs": at T = 1.5 the sampled tokens' logprobs are
    the trainer's `sequence_logprobs(temperature=1.5)`, and greedy requests still get the raw ones."""
    assert vllm_policy.llm.llm_engine.vllm_config.model_config.logprobs_mode == "processed_logprobs"
    _, requests, prompts = tempered_requests(tokenizer)
    sampled = vllm_policy.generate(requests, SamplingParams(temperature=TEMPERATURE, max_tokens=16, seed=0))
    assert sum(len(c.token_ids) for c in sampled) > 30
    diff = logprob_diff(sampled, trainer_logprobs(hf_policy.model, sampled, prompts, TEMPERATURE))
    print(f"max |vllm - trainer| logprob at T={TEMPERATURE}: {diff:.2e}")
    assert diff < VLLM_TEMPERED_TOLERANCE
    assert logprob_diff(sampled, trainer_logprobs(hf_policy.model, sampled, prompts, 1.0)) > 0.05
    greedy = vllm_policy.generate(requests[:1], SamplingParams(temperature=0.0, max_tokens=16))
    diff = logprob_diff(greedy, trainer_logprobs(hf_policy.model, greedy, prompts[:1], 1.0))
    print(f"max |vllm - trainer| logprob greedy (raw): {diff:.2e}")
    assert diff < LOGPROB_TOLERANCE


def test_vllm_keeps_an_explicit_logprobs_mode(monkeypatch, tiny_model):
    """A `logprobs_mode` passed by the caller reaches the engine unchanged (no engine is built here)."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    import vllm

    from verigym.agents.vllm_policy import VllmPolicy

    seen = []

    class Stop(Exception):
        """Raised by the fake engine once it has seen its arguments."""

    def fake_llm(**kwargs):
        seen.append(kwargs.get("logprobs_mode"))
        raise Stop

    monkeypatch.setattr(vllm, "LLM", fake_llm)
    for given, expected in (({}, "processed_logprobs"), ({"logprobs_mode": "raw_logprobs"}, "raw_logprobs")):
        with pytest.raises(Stop):
            VllmPolicy(tiny_model, **given)
    assert seen == ["processed_logprobs", "raw_logprobs"]
