"""`OpenAIPolicy`: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI itself) as a policy.

Two modes. With a local tokenizer (`tokenizer=DIR`, or `model=DIR` naming a local model directory) the
policy is token-in/token-out: it sends the episode's token ids to `/v1/completions` and asks for the
sampled ids back (`return_tokens_as_token_ids`, a vLLM extension), so episodes are token-exact. Without
one it sends `messages` to `/v1/chat/completions` and records text (plus ids and logprobs when the
server returns them). `vllm_extensions=False` stops sending vLLM-only request fields (for servers that
reject unknown fields; text-only then). Requests of a batch run concurrently, and the pipelined collector
keeps up to `concurrency` single-request calls in flight (`concurrent_calls`), since the server batches them
itself; a request's seed is derived from its episode seed, sample and turn, never from its place in a batch.
Transient failures (connection refused,
timeouts, 5xx, 429) are retried with exponential backoff; a request that still fails, or whose response
is malformed, yields a `Completion` with `error` set, so only its episode is marked errored.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from verigym.agents.chat_tokens import load_tokenizer
from verigym.agents.policy import Completion, GenerationRequest, SamplingParams


class ServerError(RuntimeError):
    """The server could not be reached or answered with something that is not a valid completion."""


class OpenAIPolicy:
    """Generates through an OpenAI-compatible HTTP API at `base_url` (e.g. `http://127.0.0.1:8000/v1`)."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tokenizer: Any = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        concurrency: int = 32,
        vllm_extensions: bool = True,
    ) -> None:
        import openai

        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {self.base_url!r}")
        if max_retries < 0 or timeout <= 0:
            raise ValueError("max_retries must be >= 0 and timeout > 0")
        self.model = model
        self.model_path = Path(model) if model and Path(model).is_dir() else None
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = load_tokenizer(tokenizer)
        elif tokenizer is None and self.model_path is not None:
            tokenizer = load_tokenizer(self.model_path)
        self.tokenizer = tokenizer
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = max(1, concurrency)
        self.concurrent_calls = self.concurrency  # the server batches requests: the collector may overlap calls
        self.vllm_extensions = vllm_extensions
        if tokenizer is not None and not vllm_extensions:
            raise ValueError("token-in/token-out needs vLLM's return_tokens_as_token_ids: keep vllm_extensions=True or drop tokenizer")
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0)
        self._openai = openai

    # --- the Policy protocol ---------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        """One completion per request (in order); failures come back as completions with `error` set."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(lambda ir: self._one(ir[0], ir[1], sampling), enumerate(requests)))

    # --- one request -----------------------------------------------------------------------------------
    def _one(self, index: int, request: GenerationRequest, sampling: SamplingParams) -> Completion:
        try:
            return self._with_retries(lambda: self._call(index, request, sampling))
        except ServerError as exc:
            return Completion("", finish_reason="error", error=str(exc))

    def _with_retries(self, call: Any) -> Completion:
        o = self._openai
        transient = (o.APIConnectionError, o.APITimeoutError, o.InternalServerError, o.RateLimitError)
        attempt = 0
        while True:
            try:
                return call()
            except transient as exc:
                if attempt >= self.max_retries:
                    raise ServerError(
                        f"OpenAI-compatible server at {self.base_url} failed after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}: {exc}. Is it running and reachable? (check base_url and the server log)"
                    ) from exc
                time.sleep(self.backoff_s * (2**attempt) * (1 + 0.1 * random.random()))
                attempt += 1
            except o.APIStatusError as exc:  # 4xx other than 429: retrying will not help
                raise ServerError(f"server at {self.base_url} refused the request: HTTP {exc.status_code}: {_short(exc.message)}") from exc
            except (o.APIResponseValidationError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                raise ServerError(f"server at {self.base_url} returned a malformed response: {type(exc).__name__}: {_short(str(exc))}") from exc

    def _model_name(self) -> str:
        if self.model:
            return self.model
        models = self.client.models.list().data
        if not models:
            raise ValueError("the server lists no models; pass model=NAME")
        self.model = models[0].id
        return self.model

    def _common(self, index: int, request: GenerationRequest, sampling: SamplingParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self._model_name(),
            "temperature": max(sampling.temperature, 0.0),
            "top_p": sampling.top_p,
            "max_tokens": request.max_tokens if request.max_tokens is not None else sampling.max_tokens,
        }
        if sampling.seed is not None:
            kwargs["seed"] = request_seed(sampling.seed, request, index)
        if sampling.stop:
            kwargs["stop"] = list(sampling.stop)
        return kwargs

    def _call(self, index: int, request: GenerationRequest, sampling: SamplingParams) -> Completion:
        kwargs = self._common(index, request, sampling)
        extra = {"return_tokens_as_token_ids": True, "skip_special_tokens": True} if self.vllm_extensions else {}
        if self.tokenizer is not None:
            ids = request.prompt_token_ids
            if ids is None:
                from verigym.agents.chat_tokens import prompt_ids

                ids = prompt_ids(self.tokenizer, request.messages)
            response = self.client.completions.create(prompt=list(ids), logprobs=1, extra_body=extra, **kwargs)
            choice = response.choices[0]
            if not isinstance(choice.text, str):
                raise TypeError("choices[0].text is not a string")
            tokens = list(choice.logprobs.tokens or []) if choice.logprobs else []
            lps = list(choice.logprobs.token_logprobs or []) if choice.logprobs else []
            completion = self._completion(choice.text, tokens, lps, choice.finish_reason, restore_eos=not sampling.stop)
            if not sampling.stop and completion.token_ids is not None:  # the ids' decode, as the local policies give
                completion.text = self.tokenizer.decode(completion.token_ids, skip_special_tokens=True)
            return completion
        response = self.client.chat.completions.create(messages=list(request.messages), logprobs=True, extra_body=extra, **kwargs)
        choice = response.choices[0]
        text = choice.message.content
        if not isinstance(text, str):
            raise TypeError("choices[0].message.content is not a string")
        content = (choice.logprobs.content or []) if choice.logprobs else []
        return self._completion(text, [c.token for c in content], [c.logprob for c in content], choice.finish_reason, False)

    def _completion(self, text: str, tokens: list[str], logprobs: list[float | None], finish: str | None, restore_eos: bool) -> Completion:
        ids = _token_ids(tokens)
        ended = bool(ids) and ids[-1] in _eos(self.tokenizer) if ids is not None and self.tokenizer is not None else True
        if restore_eos and ids is not None and self.tokenizer is not None and finish == "stop" and not ended:
            # The server stopped on an end-of-turn token without reporting it; restore it so ids stay exact.
            ids.append(self.tokenizer.eos_token_id)
            logprobs = list(logprobs) + [0.0]
        lps = [float(x) if x is not None else 0.0 for x in logprobs] if ids is not None else None
        if ids is not None and lps is not None and len(lps) != len(ids):
            raise ValueError(f"the server returned {len(ids)} tokens but {len(lps)} logprobs")
        if ids is None and self.tokenizer is not None:
            raise ValueError("the server did not return token ids (it must support vLLM's return_tokens_as_token_ids); "
                             "drop tokenizer= to run text-only")
        return Completion(text, ids, lps, "length" if finish == "length" else "stop")


def request_seed(base: int, request: GenerationRequest, index: int) -> int:
    """A per-request sampling seed from (base, episode seed, sample, turn), the same whatever batch the request
    is in; requests without an episode seed fall back to `base + index` (their place in the batch)."""
    if request.seed is None:
        return base + index
    key = f"{base}:{request.seed}:{request.sample}:{request.turn}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little") & 0x7FFFFFFF


def _token_ids(tokens: list[str]) -> list[int] | None:
    """Ids from vLLM's `token_id:123` strings; None when the server returned plain token strings."""
    if not tokens or not all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
        return None if tokens else []
    return [int(t.split(":", 1)[1]) for t in tokens]


def _eos(tokenizer: Any) -> set[int]:
    from verigym.agents.chat_tokens import eos_ids

    return eos_ids(tokenizer)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
