"""Chat-template tokenization shared by the model policies and the episode collector.

Episodes are token-in/token-out: the prompt of turn k+1 is the ids of turn k's prompt, the ids the policy
sampled, and the ids of what the chat template adds after them (the end of the assistant turn, the
observation messages and the next generation prompt), found as the textual *delta* between two renders of
the template. `TokenDrift` reports where that accumulation disagrees with a fresh tokenization.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from verigym.envs.spaces import Message


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """The HF tokenizer of a local model directory (never downloads); a clear error when it is missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise FileNotFoundError(
            f"model directory {str(path)!r} does not exist; build one with `verigym model tiny --out DIR`"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"the tokenizer in {path} has no chat_template; policies need one to format conversations")
    return tokenizer


def render(tokenizer: Any, messages: list[Message], add_generation_prompt: bool) -> str:
    """The chat template applied to `messages`, as text."""
    return tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
    )


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of already-templated text (special tokens in the text are parsed, none are added).

    A fast tokenizer is called through its Rust backend directly: the same ids as `tokenizer(text)` (tested),
    at half the cost, which matters since every episode turn encodes (the wrapper's batching and output
    objects cost more than the tokenization of a short turn)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if getattr(tokenizer, "is_fast", False) and backend is not None and not getattr(tokenizer, "split_special_tokens", False):
        return backend.encode(text, add_special_tokens=False).ids
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """Ids of the conversation followed by the assistant generation prompt."""
    return encode(tokenizer, render(tokenizer, messages, add_generation_prompt=True))


def prompt_ids_and_text(tokenizer: Any, messages: list[Message]) -> tuple[list[int], str]:
    """`prompt_ids` and the rendered text it encodes (the collector hands the text to the first `turn_delta`)."""
    text = render(tokenizer, messages, add_generation_prompt=True)
    return encode(tokenizer, text), text


def eos_ids(tokenizer: Any) -> set[int]:
    """Ids that end an assistant turn (the tokenizer's EOS and any generation-config EOS we know of)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid >= 0:
            ids.add(tid)
    return ids


@dataclass
class Delta:
    """Ids the template adds after an assistant turn, and whether the template behaved append-only."""

    ids: list[int]
    prefix_ok: bool
    detail: str = ""
    rendered: str = ""  # the whole conversation after the turn, rendered: the next turn's `prompt_text`


def turn_delta(
    tokenizer: Any,
    history: list[Message],
    assistant_text: str,
    end_token_text: str | None,
    observation: list[Message],
    add_generation_prompt: bool,
    prompt_text: str | None = None,
) -> Delta:
    """Ids to append after the sampled completion of `history`'s next assistant turn.

    `end_token_text` is the text of the end-of-turn token the sampled ids already end with (e.g.
    `<|im_end|>`), so it is not added again; None when the completion was cut off. When the template is not append-only (it rewrites earlier turns, e.g.
    drops `<think>` blocks), the delta is rendered from the new messages alone and `prefix_ok` is False.
    `prompt_text` is `history` already rendered with the generation prompt (the previous `Delta.rendered`),
    saving one render of the whole conversation per turn.
    """
    prompt = prompt_text if prompt_text is not None else render(tokenizer, history, add_generation_prompt=True)
    closed = render(tokenizer, history + [{"role": "assistant", "content": assistant_text}], add_generation_prompt=False)
    full = render(tokenizer, history + [{"role": "assistant", "content": assistant_text}] + observation, add_generation_prompt)
    prefix_ok = closed.startswith(prompt + assistant_text) and full.startswith(closed)
    if prefix_ok:
        suffix = closed[len(prompt + assistant_text) :]
        rest = full[len(closed) :]
        detail = ""
    else:
        # Render the new turn after a single assistant message; subtract that message's own render.
        alone = render(tokenizer, [{"role": "assistant", "content": assistant_text}], add_generation_prompt=False)
        new = render(tokenizer, [{"role": "assistant", "content": assistant_text}] + observation, add_generation_prompt)
        rest = new[len(alone) :] if new.startswith(alone) else new
        cut = alone.rfind(assistant_text)
        suffix = alone[cut + len(assistant_text) :] if cut >= 0 else ""
        detail = "the chat template is not append-only (earlier turns render differently once later turns exist)"
    if end_token_text:
        if suffix.startswith(end_token_text):
            suffix = suffix[len(end_token_text) :]
        else:  # e.g. the model ended with <|endoftext|> where the template closes turns with <|im_end|>
            prefix_ok = False
            detail = f"the completion ended with {end_token_text!r}, which the template does not use to close turns"
    return Delta(encode(tokenizer, suffix + rest) if suffix + rest else [], prefix_ok, detail, full)


@dataclass
class TokenDrift:
    """How the accumulated episode ids compare with a fresh tokenization of the final conversation.

    `equal` is the whole check. `first_mismatch` is the first differing position (None when equal).
    `policy_only` is True when every difference lies inside policy-sampled spans, i.e. the model sampled a
    non-canonical tokenization of its own text (expected and harmless: the trainer trains on what was
    sampled); False means the template itself drifted. `template_prefix_ok` is False when some turn's
    template render was not append-only.
    """

    equal: bool
    first_mismatch: int | None
    accumulated_len: int
    retokenized_len: int
    policy_only: bool
    template_prefix_ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # flat scalars: no deep copy (asdict's)


def measure_drift(
    tokenizer: Any,
    token_ids: list[int],
    loss_mask: list[int],
    messages: list[Message],
    ends_with_generation_prompt: bool,
    template_prefix_ok: bool,
    detail: str = "",
    rendered: str | None = None,
) -> TokenDrift:
    """Compare `token_ids` with a fresh tokenization of `messages` (see `TokenDrift`). `rendered` is
    `messages` already rendered by the template (the last turn's `Delta.rendered`), saving a render."""
    text = rendered if rendered is not None else render(tokenizer, messages, add_generation_prompt=ends_with_generation_prompt)
    fresh = encode(tokenizer, text)
    if fresh == token_ids:
        return TokenDrift(True, None, len(token_ids), len(fresh), True, template_prefix_ok, detail)
    first = next((i for i, (a, b) in enumerate(zip(token_ids, fresh)) if a != b), min(len(token_ids), len(fresh)))
    # Compare the non-policy spans: strip every policy span from the accumulated ids and every re-tokenized
    # policy text from the fresh ids is not possible without alignment, so compare the decoded texts instead.
    policy_only = tokenizer.decode(token_ids, skip_special_tokens=False) == tokenizer.decode(fresh, skip_special_tokens=False)
    return TokenDrift(False, first, len(token_ids), len(fresh), policy_only, template_prefix_ok, detail)
