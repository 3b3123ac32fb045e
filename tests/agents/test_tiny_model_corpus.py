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
    assert system[1] < 0.55 * system[0] and user[1] < 0.7 * user[0], (system, user)  # measured 590 -> 279, 213 -> 130
    assert beam.get_vocab_size() == 1024
    assert "<answer>" in beam.get_vocab() and beam.token_to_id("<answer>") is not None
    assert len(beam.encode("<answer>R_A = 3P/4</answer>").ids) <= 10  # <answer> R _ A Ġ= Ġ3 P / 4 </answer>


def test_unknown_corpus_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="beam-statics"):
        corpus_text("sql")
