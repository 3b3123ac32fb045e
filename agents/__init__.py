"""Policies (scripted, local models, remote servers), episode records and the episode runner."""

from verigym.agents.collect import collect
from verigym.agents.policy import Completion, GenerationRequest, Policy, SamplingParams
from verigym.agents.records import EpisodeRecord, EpisodeWriter, TurnRecord, read_episodes, write_episodes
from verigym.agents.runner import RunSummary, run_episode, run_episodes, summarize

__all__ = [
    "Completion",
    "EpisodeRecord",
    "EpisodeWriter",
    "GenerationRequest",
    "Policy",
    "RunSummary",
    "SamplingParams",
    "TurnRecord",
    "collect",
    "read_episodes",
    "run_episode",
    "run_episodes",
    "summarize",
    "write_episodes",
]
