"""A tiny, randomly initialised Qwen2 chat model built locally (nothing downloaded), for tests and demos.

`build_tiny_model(out_dir)` writes a Hugging Face model directory: a byte-level BPE `tokenizers` tokenizer
(every string tokenizes: the 256 byte symbols plus deterministic merges learnt from a built-in corpus) with
a Qwen-style chat template, single tokens for the action tags (`<answer>`, `<tool_call>`, `<think>` and
their closers), and a Qwen2 causal LM with head_dim 64 (what vLLM's CPU attention supports).

`corpus="beam-statics"` learns the merges from beam-statics text as well (the rules, generated beam
descriptions, oracle check calls and answers), so with a larger `vocab_size` (e.g. 1024) the beam prompt
and its replies take a fraction of the tokens (measured in `tests/agents/test_tiny_model_corpus.py`); its
pre-tokenizer also cuts out every digit and minus sign, so a number is the same tokens wherever it appears.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
ACTION_TOKENS = ("<answer>", "</answer>", "<tool_call>", "</tool_call>", "<think>", "</think>")
DEFAULT_VOCAB_SIZE = 512

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Text the merges are learnt from: the action format, JSON, and the words statics/SQL/code tasks use.
_CORPUS = """
<tool_call>{"name": "check", "arguments": {"R_A": "3*P/4", "R_B": "P/4"}}</tool_call>
<answer>R_A = 3*P/4, R_B = P/4, M_A = P*L/2</answer> <think>Sum of forces and moments about A.</think>
The beam of length L is simply supported at A and B. A point load P acts at x = L/4 from the left end.
A cantilever beam is fixed at the wall; a uniformly distributed load q acts over the whole span.
Find the support reactions in terms of P, L and q. Reply with one tool call or a final answer.
SELECT name, count(*) FROM users WHERE age > 30 GROUP BY name ORDER BY count(*) DESC LIMIT 10;
def solve(x): return [i * i for i in range(x) if i % 2 == 0]  # the function returns a list
the and of to in is that for it with as on be at by this an are from or not you your all
The answer is correct. The answer is wrong. Turn budget used up; episode over. unknown tool
reaction force moment shear equilibrium support load distributed point left right wall end
0123456789 + - * / = ( ) [ ] { } , . : ; " ' user assistant system tool content name arguments
"""


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode map (what the ByteLevel pre-tokenizer uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


CORPORA = ("default", "beam-statics")


def corpus_text(corpus: str = "default") -> str:
    """The text merges are learnt from: the built-in corpus, plus generated task text for a named family."""
    if corpus == "default":
        return _CORPUS
    if corpus == "beam-statics":
        return _CORPUS + _beam_statics_text()
    raise ValueError(f"unknown tokenizer corpus {corpus!r}; choose one of {list(CORPORA)}")


def _beam_statics_text(tasks: int = 240) -> str:
    """The rules for every check budget, and the beam, check call and answer of `tasks` generated tasks."""
    from verigym.envs.actions import format_answer, format_tool_call
    from verigym.envs.beam_statics.generator import generate_task
    from verigym.envs.beam_statics.ground_truth import gold_reactions
    from verigym.envs.beam_statics.prompt import describe, system_prompt
    from verigym.envs.beam_statics.task import CATEGORIES
    from verigym.envs.beam_statics.verifier import show

    parts = [system_prompt(checks, turns) for checks in (0, 1, 2) for turns in (2, 3, 4, 6)]
    for seed in range(tasks):
        task = generate_task(seed, CATEGORIES)
        gold = {name: show(name, value) for name, value in gold_reactions(task).items()}
        parts += [describe(task), format_tool_call("check", gold), format_answer(", ".join(f"{k} = {v}" for k, v in gold.items()))]
    return "\n".join(parts)


def _pre_tokenizer(corpus: str):  # -> tokenizers.pre_tokenizers.PreTokenizer
    """GPT-2's byte-level split; for `beam-statics` every digit and minus sign is first cut out on its own,
    so a number is the same digit tokens wherever it appears (`-15PL` in a check reply is `-` `1` `5` `PL`,
    `15PL` in the answer `1` `5` `PL`): answering is copying tokens."""
    from tokenizers import Regex, pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if corpus != "beam-statics":
        return byte_level
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"[0-9]|-"), "isolated"), byte_level])


def _learn_merges(n_merges: int, corpus: str = "default") -> list[tuple[str, str]]:
    """Deterministic BPE merges: most frequent pair first, ties broken lexicographically."""
    from tokenizers import pre_tokenizers

    pre = _pre_tokenizer(corpus)
    words: Counter[tuple[str, ...]] = Counter()
    for piece, _ in pre.pre_tokenize_str(corpus_text(corpus)):
        words[tuple(piece)] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


def build_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE, corpus: str = "default"):  # -> tokenizers.Tokenizer
    """A byte-level BPE tokenizer with exactly `vocab_size` tokens (bytes + merges + special/action tokens),
    merges learnt from `corpus` (see `CORPORA`)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    n_fixed = 256 + len(SPECIAL_TOKENS) + len(ACTION_TOKENS)
    if vocab_size < n_fixed:
        raise ValueError(f"vocab_size must be at least {n_fixed} (256 bytes + special tokens), got {vocab_size}")
    merges = _learn_merges(vocab_size - n_fixed, corpus)
    vocab: dict[str, int] = {}
    for symbol in sorted(_byte_alphabet().values(), key=lambda s: ord(s)):
        vocab[symbol] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tokenizer.pre_tokenizer = _pre_tokenizer(corpus)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in ACTION_TOKENS])
    # A small corpus may run out of merges: pad with reserved tokens so the vocab has exactly vocab_size.
    filler = 0
    while tokenizer.get_vocab_size() < vocab_size:
        tokenizer.add_tokens([AddedToken(f"<|reserved_{filler}|>", special=True, normalized=False)])
        filler += 1
    return tokenizer


def build_tiny_model(
    out_dir: str | Path,
    *,
    layers: int = 2,
    hidden: int = 128,
    heads: int = 2,
    kv_heads: int = 2,
    intermediate: int | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
    init_std: float = 0.1,
    corpus: str = "default",
) -> Path:
    """Write a random Qwen2 chat model (HF format) to `out_dir` and return its path; same seed, same weights.

    `init_std` is larger than the usual 0.02 so the untrained model's next-token distributions are peaked
    and varied (greedy decoding then exercises many tokens, and ties between top tokens are rare).
    """
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    if heads % kv_heads:
        raise ValueError(f"heads ({heads}) must be a multiple of kv_heads ({kv_heads})")
    if hidden // heads != 64:
        raise ValueError(f"head_dim = hidden/heads must be 64 (vLLM's CPU attention), got {hidden}/{heads}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = build_tokenizer(vocab_size or DEFAULT_VOCAB_SIZE, corpus)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text())
    tok_config["chat_template"] = CHAT_TEMPLATE  # also kept in chat_template.jinja (transformers >= 4.5x)
    config_path.write_text(json.dumps(tok_config, indent=2) + "\n")
    vocab = raw.get_vocab_size()
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="float32",
        initializer_range=init_std,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [config.eos_token_id, config.pad_token_id]
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.bos_token_id = config.bos_token_id
    model.save_pretrained(out, safe_serialization=True)
    (out / "verigym_tiny.json").write_text(
        json.dumps({"layers": layers, "hidden": hidden, "heads": heads, "kv_heads": kv_heads, "vocab_size": vocab, "seed": seed, "corpus": corpus}) + "\n"
    )
    return out
