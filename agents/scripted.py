"""Scripted policies: the oracle (proves an env solvable turn by turn) and two baselines."""

from __future__ import annotations

import random
import string

from verigym.agents.policy import Completion, GenerationRequest, SamplingParams


class OraclePolicy:
    """Plays the env's gold action for the current turn (through the same tool protocol an agent uses)."""

    name = "oracle"

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        completions = []
        for request in requests:
            if request.env is None:
                raise ValueError("the oracle policy needs the live env in each GenerationRequest")
            completions.append(Completion(request.env.oracle_action()))
        return completions


class RandomPolicy:
    """An uninformed baseline: a well-formed but random action from the env's `sample_action`."""

    name = "random"

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        completions = []
        for request in requests:
            if request.env is None:
                raise ValueError("the random policy needs the live env in each GenerationRequest")
            rng = random.Random(_turn_seed(request))
            completions.append(Completion(request.env.sample_action(rng)))
        return completions


class GarbagePolicy:
    """A malformed-input baseline: random printable characters, sometimes empty, sometimes huge."""

    name = "garbage"

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        completions = []
        for request in requests:
            rng = random.Random(_turn_seed(request))
            length = rng.choice([0, 1, 17, 200, 5_000])
            completions.append(Completion("".join(rng.choices(string.printable, k=length))))
        return completions


def _turn_seed(request: GenerationRequest) -> int:
    return (request.seed or 0) * 1009 + len(request.messages)
