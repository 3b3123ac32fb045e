"""Scripted baselines through the real episode runner: the oracle solves everything through the tool
protocol; uninformed and garbage policies earn (almost) nothing."""

import json
from collections import Counter

from verigym.agents.runner import run_episodes
from verigym.agents.scripted import GarbagePolicy, OraclePolicy, RandomPolicy
from verigym.envs.beam_statics.task import CATEGORIES


def test_oracle_is_correct_on_1000_tasks_in_every_category():
    records, summary = run_episodes("beam-statics-v0", OraclePolicy(), n=1000, seed=0, concurrency=2, progress=False)
    assert summary.scored == 1000 and summary.dropped_verifier == 0 and summary.errored == 0
    assert summary.components["correct"] == 1.0 and summary.success_rate == 1.0
    categories = Counter(json.loads(r.task_json)["category"] for r in records)
    assert set(categories) == set(CATEGORIES) and min(categories.values()) >= 50
    assert all(r.turns == 2 and '"name": "check"' in r.turn_records[0].action for r in records)
    assert all("balanced" in r.turn_records[0].observation[0]["content"] for r in records)


def test_oracle_on_a_held_out_split():
    records, summary = run_episodes(
        "beam-statics-v0", OraclePolicy(), n=100, seed=5000, concurrency=1, progress=False,
        env_kwargs={"categories": ["overhang"], "max_checks": 0},
    )
    assert summary.components["correct"] == 1.0
    assert all(json.loads(r.task_json)["category"].startswith("overhang/") and r.turns == 1 for r in records)


def test_random_baseline_is_near_zero():
    _, summary = run_episodes("beam-statics-v0", RandomPolicy(), n=400, seed=0, concurrency=2, progress=False)
    assert summary.errored == 0
    assert summary.components["correct"] <= 0.02
    assert summary.components["per_reaction"] <= 0.1
    assert summary.components["format"] == 1.0  # well-formed, just uninformed
    assert summary.mean_reward <= 0.1


def test_garbage_baseline_scores_zero():
    records, summary = run_episodes("beam-statics-v0", GarbagePolicy(), n=100, seed=0, concurrency=2, progress=False)
    assert summary.errored == 0 and summary.mean_reward == 0.0
    assert all(r.truncated and not r.terminated and r.turns == 6 for r in records)
    assert all(t.malformed for r in records for t in r.turn_records)
