import hashlib
import json
import string

import pytest

from verigym.agents.chat_tokens import encode, load_tokenizer, prompt_ids
from verigym.agents.tiny_model import ACTION_TOKENS, SPECIAL_TOKENS, build_tiny_model
from verigym.cli import main


def digest(path):
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_files_config_and_determinism(tiny_model, tmp_path):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (tiny_model / name).is_file(), name
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["hidden_size"] // config["num_attention_heads"] == 64
    assert "<|im_start|>" in json.loads((tiny_model / "tokenizer_config.json").read_text())["chat_template"]
    again = build_tiny_model(tmp_path / "again")
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert digest(again) == digest(tiny_model) != digest(other)
    assert (again / "tokenizer.json").read_bytes() == (tiny_model / "tokenizer.json").read_bytes()


def test_tokenizer_round_trips_any_text_and_has_single_action_tokens(tokenizer, tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    assert len(tokenizer) == config["vocab_size"] == 512
    text = string.printable + " R_A = 3*P/4 {\"name\": \"check\"} é ∑ 😀"
    assert tokenizer.decode(encode(tokenizer, text)) == text
    for token in SPECIAL_TOKENS + ACTION_TOKENS:
        assert len(encode(tokenizer, token)) == 1, token
    # action tags are not "special": decoding with skip_special_tokens keeps them, drops <|im_end|>
    ids = encode(tokenizer, "<answer>x</answer><|im_end|>")
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<answer>x</answer>"
    assert tokenizer.eos_token == "<|im_end|>"


def test_chat_template_is_qwen_like(tokenizer):
    ids = prompt_ids(tokenizer, [{"role": "user", "content": "hi"}])
    assert tokenizer.decode(ids) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_bad_shapes_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="head_dim"):
        build_tiny_model(tmp_path / "x", hidden=64, heads=4)
    with pytest.raises(ValueError, match="at least"):
        build_tiny_model(tmp_path / "y", vocab_size=100)
    with pytest.raises(FileNotFoundError, match="verigym model tiny"):
        load_tokenizer(tmp_path / "missing")


def test_cli_builds_a_model(tmp_path, capsys):
    assert main(["model", "tiny", "--out", str(tmp_path / "m"), "--layers", "1", "--hidden", "128", "--heads", "2"]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["num_hidden_layers"] == 1
    assert "tiny model written" in capsys.readouterr().out


def test_encode_through_the_fast_backend_equals_the_tokenizer_call(tokenizer):
    assert tokenizer.is_fast and hasattr(tokenizer, "_tokenizer")  # the backend path is what is tested here
    texts = [
        "",
        string.printable + " R_A = 3*P/4 {\"name\": \"check\"} é ∑ 😀",
        "<|im_start|>user\nsolve<|im_end|>\n<|im_start|>assistant\n<answer>-12</answer><|im_end|>\n",
        "  leading and trailing spaces  \n\n\t",
        "<|im_end|><|im_end|>x<|im_start|>",
    ]
    for text in texts:
        assert encode(tokenizer, text) == list(tokenizer(text, add_special_tokens=False)["input_ids"]), text


def test_chat_deltas_reusing_the_previous_render_equal_fresh_renders(tokenizer):
    from verigym.agents.chat_tokens import measure_drift, prompt_ids_and_text, turn_delta

    history = [{"role": "system", "content": "rules"}, {"role": "user", "content": "beam?"}]
    ids, text = prompt_ids_and_text(tokenizer, history)
    assert ids == prompt_ids(tokenizer, history)
    observation = [{"role": "tool", "content": "net force -5P"}]
    reused = turn_delta(tokenizer, history, "<check>R_A=0</check>", "<|im_end|>", observation, True, prompt_text=text)
    fresh = turn_delta(tokenizer, history, "<check>R_A=0</check>", "<|im_end|>", observation, True)
    assert reused == fresh and reused.prefix_ok
    conversation = history + [{"role": "assistant", "content": "<check>R_A=0</check>"}] + observation
    sampled = encode(tokenizer, "<check>R_A=0</check><|im_end|>")
    episode_ids = ids + sampled + reused.ids
    assert measure_drift(tokenizer, episode_ids, [1] * len(episode_ids), conversation, True, True, rendered=reused.rendered) == \
        measure_drift(tokenizer, episode_ids, [1] * len(episode_ids), conversation, True, True)
    assert measure_drift(tokenizer, episode_ids, [1] * len(episode_ids), conversation, True, True).equal
