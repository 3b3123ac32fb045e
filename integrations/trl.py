"""TRL: `GRPOTrainer` trains against any verigym env, multi-turn, through TRL's `rollout_func` (extra `verigym[trl]`).

    adapter = VerigymRollout("beam-statics-v0", seeds=range(64))
    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=adapter.dataset(),
                          reward_funcs=adapter.reward, rollout_func=adapter)

Each prompt of the dataset is the opening conversation of one seed. For every prompt TRL hands over, the adapter
plays a whole episode: the trainer's model samples the assistant turn (token ids and their log-probabilities
at the trainer's temperature), the env steps on the decoded text, and the env's reply is appended as tokens
that are masked out of the loss (`env_mask` = 0). The episode's reward is the sum of the env's step rewards,
exactly as in-process for the same seed and the same assistant texts (`episodes` keeps them for checking).

Why `rollout_func` and not `environment_factory`: TRL's environment interface exposes an env's methods as
native tool calls of the chat template, which would change what the agent sees and types; a verigym env takes
plain assistant text in its own action format, which `rollout_func` passes through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from verigym.plugins.registry import make


@dataclass(frozen=True)
class PlayedEpisode:
    """One episode the adapter played: the seed, the assistant texts sent to the env, and the total reward."""

    seed: int
    actions: tuple[str, ...]
    total_reward: float


class VerigymRollout:
    """A TRL `rollout_func` playing `env_id` episodes with the trainer's own model (see the module docstring)."""

    def __init__(
        self, env_id: str, seeds: Iterable[int], env_kwargs: dict[str, Any] | None = None, providers: Any = None
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.providers = providers
        self.episodes: list[PlayedEpisode] = []
        self._seed_of: dict[str, int] = {}
        self._prompts: list[list[dict[str, str]]] = []
        env = self._make()
        try:
            for seed in seeds:
                opening, _ = env.reset(seed=seed)
                key = _key(opening)
                if key not in self._seed_of:  # a prompt must name its task: seeds with equal openings count once
                    self._seed_of[key] = seed
                    self._prompts.append(opening)
        finally:
            env.close()

    def dataset(self) -> Any:
        """A `datasets.Dataset` with a conversational `prompt` column (and `seed`), one row per distinct opening."""
        from datasets import Dataset

        return Dataset.from_dict({"prompt": self._prompts, "seed": [self._seed_of[_key(p)] for p in self._prompts]})

    def reward(self, prompts: list, completions: list, env_reward: list[float], **_: Any) -> list[float]:
        """The reward function to pass to `GRPOTrainer`: the env's episode reward, unchanged."""
        return list(env_reward)

    def __call__(self, prompts: list[list[dict[str, str]]], trainer: Any) -> dict[str, list]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        keys = ("prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward")
        out: dict[str, list] = {key: [] for key in keys}
        for prompt in prompts:
            key = _key(prompt)
            if key not in self._seed_of:
                raise ValueError("a prompt that is not an opening of this adapter's dataset; use adapter.dataset()")
            prompt_ids, completion_ids, logprobs, mask, episode = self._play(
                self._seed_of[key], model, tokenizer, trainer
            )
            self.episodes.append(episode)
            out["prompt_ids"].append(prompt_ids)
            out["completion_ids"].append(completion_ids)
            out["logprobs"].append(logprobs)
            out["env_mask"].append(mask)
            out["env_reward"].append(episode.total_reward)
        return out

    # -- one episode ---------------------------------------------------------------------------------------
    def _make(self) -> Any:
        env = make(self.env_id, **self.env_kwargs)
        if self.providers is not None and getattr(env, "sandbox_requirements", None) is not None:
            env.use_sandboxes(self.providers)
        return env

    def _play(self, seed: int, model: Any, tokenizer: Any, trainer: Any) -> tuple:
        import torch

        env = self._make()
        try:
            messages, _ = env.reset(seed=seed)
            prompt_ids = _render(tokenizer, messages, generation_prompt=True)
            context = list(prompt_ids)
            completion_ids: list[int] = []
            logprobs: list[float] = []
            mask: list[int] = []
            actions: list[str] = []
            total = 0.0
            budget = int(trainer.max_completion_length)
            while True:
                room = max(1, budget - len(completion_ids))
                new_ids, new_logprobs = _sample(model, tokenizer, context, room, trainer.temperature, torch)
                text = tokenizer.decode(new_ids, skip_special_tokens=True)
                completion_ids += new_ids
                logprobs += new_logprobs
                mask += [1] * len(new_ids)
                context += new_ids
                actions.append(text)
                reply, reward, terminated, truncated, _ = env.step(text)
                total += float(reward)
                if terminated or truncated or len(completion_ids) >= budget:
                    break
                # The env's reply as tokens after what the model sampled: the template's rendering of the
                # conversation so far, continued from the model's own tokens (the turn closer, then the reply).
                before = _render_text(tokenizer, messages + [{"role": "assistant", "content": text}], False)
                messages = messages + [{"role": "assistant", "content": text}] + reply
                after = _render_text(tokenizer, messages, True)
                sampled = tokenizer.decode(context, skip_special_tokens=False)
                closer = before[len(sampled):] if before.startswith(sampled) else ""
                env_ids = tokenizer.encode(closer + after[len(before):], add_special_tokens=False)
                completion_ids += env_ids
                logprobs += [0.0] * len(env_ids)
                mask += [0] * len(env_ids)
                context += env_ids
            return prompt_ids, completion_ids, logprobs, mask, PlayedEpisode(seed, tuple(actions), total)
        finally:
            env.close()


def _sample(
    model: Any, tokenizer: Any, context: list[int], max_new: int, temperature: float, torch: Any
) -> tuple[list[int], list[float]]:
    """Sample one assistant turn; the log-probabilities are those of the sampling distribution (logits / T)."""
    with torch.no_grad():
        input_ids = torch.tensor([context], device=model.device)
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )
    new_ids = out.sequences[0, len(context):].tolist()
    logprobs = [
        torch.log_softmax(logits[0].float() / temperature, dim=-1)[token].item()
        for logits, token in zip(out.logits, new_ids)
    ]
    return new_ids, logprobs


def _render_text(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    return tokenizer.encode(_render_text(tokenizer, messages, generation_prompt), add_special_tokens=False)


def _key(messages: list[dict[str, str]]) -> str:
    return json.dumps(messages, sort_keys=True)
