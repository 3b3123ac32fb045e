"""The tiny model's `beam-statics` tokenizer corpus: beam text tokenizes compactly and still round-trips."""

from __future__ import annotations

import pytest

from verigym.agents.tiny_model import build_tokenizer, corpus_text


def test_beam_corpus_roughly_halves_the_beam_prompt_and_round_trips():
    import verigym.plugins.registry as registry

    default, beam = build_tokenizer(512), build_tokenizer(1024, "beam-statics")
    env = registry.make("beam-statics-v0", categories=["cantilever"], max_checks=1, max_turns=2)
    obs, _ = env.reset(seed=5)
    action = env.oracle_action()
    for text in (obs[0]["content"], obs[1]["content"], action):
        assert beam.decode(beam.encode(text).ids) == text
    system = [len(t.encode(obs[0]["content"]).ids) for t in (default, beam)]
    user = [len(t.encode(obs[1]["content"]).ids) for t in (default, beam)]
    assert system[1] < 0.55 * system[0] and user[1] < 0.7 * user[0], (system, user)  # measured 591 -> 288, 213 -> 139
    assert beam.get_vocab_size() == 1024
    assert "<answer>" in beam.get_vocab() and beam.token_to_id("<answer>") is not None
    assert beam.encode("<answer>R_A = 3P/4</answer>").tokens == ["<answer>", "R", "_", "A", "Ġ=", "Ġ", "3", "P", "/", "4", "</answer>"]


def test_beam_corpus_cuts_out_every_digit_and_minus_sign():
    """A number is the same digit tokens wherever it appears, so answering from a check's reply is copying."""
    beam = build_tokenizer(1024, "beam-statics")
    assert beam.encode("x = 0 = -15PL (").tokens[-5:] == ["-", "1", "5", "PL", "Ġ("]
    assert beam.encode("M_A = 15PL").tokens[-4:] == ["Ġ", "1", "5", "PL"]
    assert beam.encode('"R_A": "-3P"').tokens[-4:] == ["-", "3", "P", '"']


def test_unknown_corpus_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="beam-statics"):
        corpus_text("sql")
