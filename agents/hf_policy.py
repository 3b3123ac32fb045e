"""`HFPolicy`: a transformers causal LM as a policy (batched, token-in/token-out, with logprobs)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verigym.agents.chat_tokens import eos_ids, load_tokenizer, prompt_ids
from verigym.agents.policy import Completion, GenerationRequest, SamplingParams


class HFPolicy:
    """Generates with `transformers` on CPU or GPU.

    `model` is a model directory (or an already-loaded `PreTrainedModel`, then pass `tokenizer`).
    Completions carry the sampled ids (including the end-of-turn token when sampled) and, per sampled
    token, its log-probability under the distribution it was sampled from at temperature T,
    `log_softmax(logits / T)` (greedy decoding, T = 0: the raw `log_softmax(logits)`), which is what the
    trainer's `sequence_logprobs(temperature=T)` computes. `top_p` is not applied to the reported logprob
    (the full tempered distribution, not the nucleus renormalised; vLLM's processed logprobs do renormalise,
    so the two engines agree only with top_p = 1).

    `share_prompts` (default on): requests in one batch with identical prompts (a GRPO group's samples at
    their first turn) are prefilled once and the key/value cache is copied to each sample before decoding,
    instead of running the same prompt through the model once per sample.
    """

    name = "hf"

    def __init__(
        self,
        model: str | os.PathLike[str] | Any,
        *,
        device: str = "cpu",
        dtype: Any = None,
        batch_size: int = 16,
        tokenizer: Any = None,
        share_prompts: bool = True,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = device
        self.batch_size = batch_size
        self.share_prompts = share_prompts
        if isinstance(model, (str, os.PathLike)):
            self.model_path: Path | None = Path(model)
            self.tokenizer = tokenizer or load_tokenizer(model)
            torch_dtype = _dtype(dtype) or torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype).to(device)
        else:
            source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
            if tokenizer is None and not source:
                raise ValueError("HFPolicy(<loaded model>) could not find the model's directory; pass tokenizer=<its tokenizer>")
            self.model_path = Path(source) if source else None
            self.tokenizer = tokenizer or load_tokenizer(source)
            self.model = model
        config = getattr(self.model, "config", None)
        self.max_model_len: int | None = getattr(config, "max_position_embeddings", None)
        self._eos = sorted(eos_ids(self.tokenizer))
        self._pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self._eos[0]
        self._lock = threading.Lock()

    def update_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Copy new weights (names as in the model's `state_dict`) into the model in place.

        With tied embeddings `lm_head.weight` is ignored (the embedding is used), matching vLLM.
        """
        import torch

        params = self.model.state_dict()  # tensors sharing storage with the live parameters
        tied = bool(getattr(getattr(self.model, "config", None), "tie_word_embeddings", False))
        with self._lock, torch.no_grad():
            for name, tensor in named_tensors:
                if tied and name == "lm_head.weight":
                    continue  # tied to the input embedding, as vLLM treats it
                if name not in params:
                    raise KeyError(f"update_weights: the model has no parameter {name!r}")
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        """One completion per request; requests are batched `batch_size` at a time (left-padded)."""
        prompts = [r.prompt_token_ids if r.prompt_token_ids is not None else prompt_ids(self.tokenizer, r.messages) for r in requests]
        limits = [r.max_tokens if r.max_tokens is not None else sampling.max_tokens for r in requests]
        results: list[Completion | None] = [None] * len(requests)
        # Batch requests that share a token budget, so each batch is one `generate` call.
        order = sorted(range(len(requests)), key=lambda i: (limits[i], len(prompts[i]), prompts[i]))  # equal prompts adjacent
        with self._lock:
            start = 0
            while start < len(order):
                batch = [order[start]]
                while len(batch) < self.batch_size and start + len(batch) < len(order) and limits[order[start + len(batch)]] == limits[batch[0]]:
                    batch.append(order[start + len(batch)])
                start += len(batch)
                for index, completion in zip(batch, self._generate_batch([prompts[i] for i in batch], sampling, limits[batch[0]])):
                    results[index] = completion
        return [c for c in results if c is not None]

    def _generate_batch(self, prompts: list[list[int]], sampling: SamplingParams, max_tokens: int) -> list[Completion]:
        import torch

        if max_tokens < 1:
            return [Completion("", [], [], "length") for _ in prompts]
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            if not ids:
                raise ValueError("HFPolicy.generate: a request has an empty prompt")
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        greedy = sampling.temperature <= 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "do_sample": not greedy,
            "eos_token_id": self._eos,
            "pad_token_id": self._pad,
            "output_logits": True,
            "return_dict_in_generate": True,
            "top_k": None,
            "top_p": None if greedy else sampling.top_p,
            "temperature": None if greedy else sampling.temperature,
        }
        if sampling.stop:
            kwargs["stop_strings"] = list(sampling.stop)
            kwargs["tokenizer"] = self.tokenizer
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        was_training = self.model.training
        self.model.eval()  # a model shared with a trainer is put back in its mode afterwards
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        try:
            with torch.no_grad():
                if self.share_prompts:
                    cache = self._shared_prefill(input_ids, mask)
                    if cache is not None:
                        kwargs["past_key_values"] = cache
                out = self.model.generate(input_ids=input_ids, attention_mask=mask, use_cache=True, **kwargs)
        finally:
            self.model.train(was_training)
        new = out.sequences[:, width:].cpu()
        # `out.logits` are the model's raw logits; sampling divided them by the temperature (then applied top-p)
        scale = 1.0 if greedy else float(sampling.temperature)
        steps = [step.float() if scale == 1.0 else step.float() / scale for step in out.logits]
        logprobs = torch.stack([torch.log_softmax(step, dim=-1) for step in steps], dim=1).cpu()
        completions = []
        for row in range(len(prompts)):
            ids: list[int] = []
            lps: list[float] = []
            finish = "length"
            for step, tid in enumerate(new[row].tolist()):
                ids.append(tid)
                lps.append(float(logprobs[row, step, tid]))
                if tid in self._eos:
                    finish = "stop"
                    break
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if finish == "length" and sampling.stop and any(s in text for s in sampling.stop):
                finish = "stop"
            completions.append(Completion(text, ids, lps, finish))
        return completions


    def _shared_prefill(self, input_ids: Any, mask: Any) -> Any:
        """The key/value cache of every prompt token but the last, computed once per distinct (left-padded)
        row and copied to the rows that repeat it; None when no row repeats (then `generate` prefills).
        Positions follow the attention mask as `generate` derives them, so decoding continues exactly there."""
        import torch

        rows = [tuple(r) for r in input_ids.tolist()]
        first: dict[tuple[int, ...], int] = {}
        owner = [first.setdefault(r, len(first)) for r in rows]
        if len(first) == len(rows) or input_ids.shape[1] < 2:
            return None
        distinct = torch.tensor([rows.index(r) for r in first], device=input_ids.device)
        ids, m = input_ids[distinct, :-1], mask[distinct, :-1]
        positions = (m.long().cumsum(-1) - 1).masked_fill(m == 0, 0)
        out = self.model(input_ids=ids, attention_mask=m, position_ids=positions, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        cache.batch_select_indices(torch.tensor(owner, device=input_ids.device))
        return cache


def _dtype(dtype: Any) -> Any:
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return getattr(torch, dtype)
    raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32' or 'bfloat16'")
