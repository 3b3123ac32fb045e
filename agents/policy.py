"""The Policy protocol: a batch of conversations in, one completion per conversation out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from verigym.envs.spaces import Message

if TYPE_CHECKING:
    from verigym.envs.base import TextEnv


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one completion. `seed` makes sampling reproducible where the backend supports it."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenerationRequest:
    """One conversation to continue.

    `prompt_token_ids` is the episode's token history so far (token-in/token-out policies continue it
    instead of re-tokenising `messages`). `env` is the live environment, which scripted policies (oracle,
    random) may consult; model policies ignore it. `seed` is the episode's seed for reproducible sampling.
    `max_tokens`, when set, caps this request's completion below `SamplingParams.max_tokens` (the
    collector uses it to keep an episode within its token budget). `sample` (the episode's index in its
    group) and `turn` name the request together with `seed` whatever batch it lands in, so a policy can
    derive a per-request sampling seed that does not depend on batching.
    """

    messages: list[Message]
    prompt_token_ids: list[int] | None = None
    env: TextEnv | None = None
    seed: int | None = None
    max_tokens: int | None = None
    sample: int = 0
    turn: int = 0


@dataclass
class Completion:
    """One sampled assistant turn: text, and for model policies the token ids and their logprobs.

    `token_ids` are the sampled ids, including the end-of-turn token when one was sampled; `logprobs` has
    one log-probability per sampled id under the distribution it was sampled from (`hf`, `vllm`:
    log_softmax(logits / temperature); greedy: the raw log_softmax(logits)). `finish_reason` is "stop"
    (end-of-turn token or stop string) or "length". A policy that serves a batch may fail one request alone: it returns a completion
    with `error` set (what went wrong, for the episode record) instead of raising for the whole batch.
    """

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@runtime_checkable
class Policy(Protocol):
    """Anything that continues conversations: scripted agents, local models, remote servers."""

    name: str

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        """One completion per request, in order. May raise; the runner records the error per episode."""
        ...
