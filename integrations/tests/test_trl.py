"""TRL 1.16's GRPOTrainer trains 2 steps on CPU against beam-statics-v0 through `VerigymRollout`."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

pytest.importorskip("trl", reason="trl is not installed (pip install 'verigym[trl]')")

import verigym  # noqa: E402
from integration_helpers import play_oracle, readme_example  # noqa: E402
from verigym.integrations.trl import VerigymRollout  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from verigym.agents.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def replay_in_process(env_id: str, seed: int, actions: tuple[str, ...], **env_kwargs) -> float:
    env = verigym.make(env_id, **env_kwargs)
    try:
        env.reset(seed=seed)
        total = 0.0
        for action in actions:
            _, reward, terminated, truncated, _ = env.step(action)
            total += reward
        return total
    finally:
        env.close()


@pytest.mark.timeout(600)
def test_grpo_trainer_two_steps_multi_turn(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    # The README's example, with the tiny model and a scratch output folder.
    code = readme_example("trl").replace('"tiny-model"', repr(tiny_model))
    code = code.replace('"grpo-out"', repr(str(tmp_path / "out")))
    code = code.replace("trainer.train()\n", "")
    namespace: dict = {}
    exec(code, namespace)
    trainer, adapter = namespace["trainer"], namespace["adapter"]
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()

    assert trainer.state.global_step == 2
    assert len(adapter.episodes) == 4  # 2 steps x 2 prompts (one group of 2 generations each)
    assert all(1 <= len(e.actions) <= 2 for e in adapter.episodes)  # multi-turn: up to max_turns assistant turns
    for episode in adapter.episodes:  # the adapter adds nothing: the same texts score the same in-process
        assert episode.total_reward == replay_in_process("beam-statics-v0", episode.seed, episode.actions, max_turns=2)
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2 and all(math.isfinite(log["loss"]) for log in logs)
    for step, log in enumerate(logs):  # the rewards TRL trained on are the env's, one generation batch per step
        played = adapter.episodes[2 * step : 2 * step + 2]
        assert log["reward"] == pytest.approx(sum(e.total_reward for e in played) / 2)
    # A random tiny model usually scores 0 in every group (zero advantages, so no update); the weights may
    # only move when a group's rewards differ.
    if any(len({e.total_reward for e in adapter.episodes[i : i + 2]}) > 1 for i in (0, 2)):
        assert any(not (p.detach() == before[n]).all() for n, p in trainer.model.named_parameters())
    print("losses", [log["loss"] for log in logs], "rewards", [e.total_reward for e in adapter.episodes])


class ScriptedModel:
    """Stands in for the trainer's model: 'samples' the given assistant texts, in order, as token ids."""

    device = "cpu"

    def __init__(self, tokenizer, texts: list[str]) -> None:
        self.tokenizer, self.texts = tokenizer, list(texts)

    def generate(self, input_ids, **_):
        import torch

        ids = self.tokenizer.encode(self.texts.pop(0), add_special_tokens=False)
        ids.append(self.tokenizer.convert_tokens_to_ids("<|im_end|>"))
        logits = [torch.zeros(1, len(self.tokenizer)) for _ in ids]
        return SimpleNamespace(sequences=torch.tensor([input_ids[0].tolist() + ids]), logits=logits)


@pytest.mark.timeout(120)
def test_rollout_plays_the_oracle_turn_by_turn_with_exact_tokens(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    oracle = play_oracle("beam-statics-v0", 7)
    assert len(oracle.actions) == 2 and oracle.total > 0  # a check turn, then the answer
    adapter = VerigymRollout("beam-statics-v0", seeds=[7])
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(unwrap_model=lambda m: m),
        model=ScriptedModel(tokenizer, oracle.actions),
        processing_class=tokenizer,
        max_completion_length=4096,
        temperature=1.0,
    )
    out = adapter([oracle.opening], trainer)

    assert out["env_reward"] == [oracle.total]
    assert adapter.episodes[0].actions == tuple(oracle.actions)
    completion, mask = out["completion_ids"][0], out["env_mask"][0]
    assert len(completion) == len(mask) == len(out["logprobs"][0])
    model_tokens = [t for t, m in zip(completion, mask) if m == 1]
    assert tokenizer.decode(model_tokens, skip_special_tokens=True) == "".join(oracle.actions)
    # The whole token sequence is exactly the chat template's rendering of the conversation.
    conversation = oracle.opening + [{"role": "assistant", "content": oracle.actions[0]}] + oracle.steps[0][0]
    conversation += [{"role": "assistant", "content": oracle.actions[1]}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert tokenizer.decode(out["prompt_ids"][0] + completion) + "\n" == rendered
