"""Each reward-shaping method vs the same run without it: a short CPU training, the method's own metric.

    python benchmarks/reward_shaping.py [--methods hapo,length_budget,rlcr,noisy_verifier,otc --steps 40
                                         --groups 16 --group-size 8 --engine hf --model DIR]

Per method two runs from the same model and seed: the baseline runs the method's shaper at weight 0 (so the
same metric is logged without changing the reward), the other at its default weight. The model is `--model`
(e.g. the demo's `runs/demo/final-model`, which already copies digits) or else a random tiny model (2 layers x
128, init_std 0.02, built once under --model-dir); from a random model, length and calibration shaping have
nothing to act on until the policy is sometimes right (the demo needs ~100 steps of 32 x 8 episodes for that).
The table shows the method's metric averaged over the first and the last quarter of the steps (steps where it
is undefined, e.g. no correct reply, are skipped: `nan` when none is left), the mean completion length and the
success rate over the last quarter, and the wall time.

| method | env | metric |
|---|---|---|
| hapo | even-reply-v0 (copy-digits prompt; correct = a reply of even length, so half right from the start) | mean length of correct replies (tokens) |
| length_budget | same, budget 6 -> 1 token | mean length of correct replies |
| rlcr | copy-digits-v0 (one digit, bare reply, up to 6 tokens) | Brier score of stated confidence (a random tiny model states none: expect `nan`) |
| rlcr_warm | confident-copy-v0 (copy one digit, then `<confidence>q</confidence>`); warm start: SFT on a teacher that is right half the time and states a random q | Brier score |
| otc_warm | peek-copy-v0 (copy one digit; up to 3 `<tool_call>` peeks, each answered with the digits again); warm start: SFT on a teacher that peeks once (0 or 2 times in 10% of episodes each), then answers | tool calls per episode |
| noisy_verifier | same env with its `correct` component flipped at FP 0.2 / FN 0.1 (success stays clean); backward | clean success rate |
| noisy_forward | same, forward correction (fn_rate 0.1 only); under dr_grpo it must equal the baseline (the shift cancels) | clean success rate |
| noisy_even | even-reply-v0 with `correct` flipped at FP 0.2 / FN 0.1 (success starts near 0.5); backward | clean success rate |
| otc | beam-statics-v0 (tool `check`) | tool calls per episode (a random tiny model makes none: expect 0) |
| verpo | digit-tests-v0 (copy two digits; each position is a hidden test) | share of hidden tests passed |
| verpo_warm | digit-tests-v0 rewarded for exact answers only; warm start: SFT on a teacher whose every digit is right half the time | share of hidden tests passed |
| checklist | digit-checklist-v0 (copy one digit; criteria "has a digit", "at most 2 characters" per turn) | turn checklist score |
| checklist_beam | beam-statics-v0 (its own criteria; a random tiny model rarely makes a readable turn: expect `nan`) | turn checklist score |
| process | copy-digits-v0 with 3 attempts; `rules` scorer in both runs, grpo vs hybrid | mean process reward (-malformed, -repeat) |
| process_warm | same; warm start: SFT on a teacher right 40% of the time that, after "wrong", repeats its wrong reply half the time | mean process reward |
| length_budget_warm | even-reply-v0, budget 12 -> 2 tokens; warm start: SFT on a teacher that replies 2-12 digits (an odd count, i.e. wrong, in 20% of episodes) | mean length of correct replies |
| noisy_warm | noisy-copy-digits-v0 (FP 0.2 / FN 0.1); warm start: SFT on a teacher right half the time; backward correction vs none | the run's correctness estimate minus the clean success rate (0 = unbiased) |
| process_guess | guess-digit-v0 (a hidden digit, 3 tries); warm start: SFT on a teacher that guesses at random and repeats its wrong guess half the time; grpo vs hybrid | mean process reward |
| canon_warm | short-copy-v0 (the digit first, at most 2 characters); warm start: SFT on a teacher right half the time, padding to 1-6 characters; canon by length, mu 0.5 (= Dr. GRPO) vs 0.9 | mean completion length (tokens) |
| canon | short-reply-v0 (correct = at most 2 characters, shorter pays); canon by length, mu 0.5 (= Dr. GRPO) vs 0.9 | reward gap high minus low half (< 0: shorter pays) |

A warm start (the `*_warm` methods and `process_guess`) first fine-tunes the tiny model with `verigym sft` (`--warm-steps`, on 2,000
episodes of a scripted teacher) so that the behaviour the method shapes exists before RL; it is built once under
`--model-dir` and both runs of the comparison start from it.

The machine load (`os.getloadavg`) is printed with the table: on a shared machine compare columns of the same
run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COPY = {"id": "copy-digits-v0", "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8, "answer_tags": False, "weights": {"format": 0.2, "numeric": 0.1, "digits": 1.0, "correct": 1.0}}}
NOISY_ENV = "noisy-copy-digits-v0"
EVEN_ENV = "even-reply-v0"
NOISY_EVEN_ENV = "noisy-even-reply-v0"
SHORT_ENV = "short-reply-v0"
TESTS_ENV = "digit-tests-v0"
CHECK_ENV = "digit-checklist-v0"
# copy-digits prompts judged correct when the reply has an even number of characters: a random policy is right
# about half the time from step 1, so length shaping has correct replies to compress without a trained model
EVEN = {"id": EVEN_ENV, "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8, "answer_tags": False}}
# correct when the reply has at most 2 characters: shorter pays, a trend CANON's across-half term should find
SHORT = {"id": SHORT_ENV, "kwargs": {"min_len": 1, "max_len": 1, "repeat": 8, "answer_tags": False}}
# copy two digits; each digit position is one hidden test (`per_test`), so VeRPO has partial credit to give
TESTS = {"id": TESTS_ENV, "kwargs": {"min_len": 2, "max_len": 2, "repeat": 8, "answer_tags": False}}
# copy-digits with three attempts: retries that repeat an earlier reply are what the `rules` step scorer penalises
# copy one digit; the turn declares two checklist criteria a random model meets sometimes (has a digit; at most 2 characters)
CHECKS = {"id": CHECK_ENV, "kwargs": COPY["kwargs"]}
# the same with correctness as the only reward (no per-digit credit from the env): VeRPO's credit is then the only dense part
TESTS_SPARSE = {"id": TESTS_ENV, "kwargs": {**TESTS["kwargs"], "weights": {"format": 0.0, "numeric": 0.0, "digits": 0.0, "correct": 1.0}}}
RETRY = {"id": "copy-digits-v0", "kwargs": {**COPY["kwargs"], "max_turns": 3}}
BEAM = {"id": "beam-statics-v0", "kwargs": {}}
# copy one digit, then `<confidence>q</confidence>` (graded on the digit alone); RLCR reads q
CONF_ENV = "confident-copy-v0"
CONF = {"id": CONF_ENV, "kwargs": COPY["kwargs"]}
# copy one digit; a `<tool_call>` (up to 3) is answered with the digits again, any other reply is the answer
PEEK_ENV = "peek-copy-v0"
PEEK = {"id": PEEK_ENV, "kwargs": {**COPY["kwargs"], "max_turns": 4}}
PEEK_CALL = '<tool_call>{"name": "peek", "arguments": {}}</tool_call>'
GUESS_ENV = "guess-digit-v0"
GUESS = {"id": GUESS_ENV, "kwargs": {**COPY["kwargs"], "max_turns": 3}}
NOISY = {"id": NOISY_ENV, "kwargs": COPY["kwargs"]}
SHORT_COPY_ENV = "short-copy-v0"
SHORT_COPY = {"id": SHORT_COPY_ENV, "kwargs": COPY["kwargs"]}
NOISE_BIAS = "shaping/noisy_verifier/bias"  # corrected (or raw) correctness estimate minus the clean success rate
DR = {"advantage": "dr_grpo"}


@dataclass(frozen=True)
class Bench:
    """One comparison: `shaping`/`algorithm` sections of the run with the method (`on`) and without (`off`)."""

    env: dict[str, Any]
    on: dict[str, Any]
    off: dict[str, Any]
    metric: str
    algorithm_on: dict[str, Any] = field(default_factory=lambda: dict(DR))
    algorithm_off: dict[str, Any] = field(default_factory=lambda: dict(DR))
    warm: str = ""  # a key of TEACHERS: both runs start from the tiny model fine-tuned on that teacher's episodes
    stop: str | None = None  # overrides --stop (the tags of warm-started replies contain the default stop letters)
    max_tokens: int | None = None  # overrides --max-tokens
    entropy_coef: float = 0.02  # the bonus keeps a random model exploring; a warm-started one needs none


def _m(name: str, on: dict[str, Any], off: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"methods": [name], name: on}, {"methods": [name], name: off}


METHODS: dict[str, Bench] = {
    "hapo": Bench(EVEN, *_m("hapo", {"weight": 1.0}, {"weight": 0.0}), "shaping/hapo/correct_length"),
    "length_budget": Bench(EVEN, *_m("length_budget", {"initial": 6, "final": 1, "decay": 0.5, "interval": 5, "weight": 1.0},
                                     {"initial": 6, "final": 1, "decay": 0.5, "interval": 5, "weight": 0.0}), "shaping/length_budget/correct_length"),
    "rlcr": Bench(COPY, *_m("rlcr", {"weight": 1.0, "missing_penalty": 0.0}, {"weight": 0.0}), "shaping/rlcr/brier"),
    # warm start: the model first learns (SFT) to reply a digit and a confidence drawn at random, so RLCR has stated
    # confidences to calibrate; without RLCR nothing rewards calibration
    "rlcr_warm": Bench(CONF, *_m("rlcr", {"weight": 1.0, "missing_penalty": 1.0}, {"weight": 0.0}), "shaping/rlcr/brier",
                       warm="rlcr", stop="", max_tokens=40),
    # warm start: the model first learns to peek (mostly once) before answering, so OTC has calls to cut
    "otc_warm": Bench(PEEK, *_m("otc", {"weight": 1.0}, {"weight": 0.0}), "shaping/otc/tool_calls", warm="otc", stop="", max_tokens=40, entropy_coef=0.0),
    "noisy_verifier": Bench(NOISY, *_m("noisy_verifier", {"fp_rate": 0.2, "fn_rate": 0.1}, {"fp_rate": 0.0, "fn_rate": 0.0}), "success_rate"),
    "noisy_forward": Bench(NOISY, *_m("noisy_verifier", {"mode": "forward", "fn_rate": 0.1}, {"fp_rate": 0.0, "fn_rate": 0.0}), "success_rate"),
    "noisy_even": Bench({"id": NOISY_EVEN_ENV, "kwargs": EVEN["kwargs"]}, *_m("noisy_verifier", {"fp_rate": 0.2, "fn_rate": 0.1}, {"fp_rate": 0.0, "fn_rate": 0.0}), "success_rate"),
    "otc": Bench(BEAM, *_m("otc", {"weight": 1.0}, {"weight": 0.0}), "shaping/otc/tool_calls"),
    "verpo": Bench(TESTS, *_m("verpo", {"alpha": 0.5}, {"alpha": 0.0}), "shaping/verpo/mean_pass"),
    # warm start: the model first learns to reply two digits, each the right one half the time
    "verpo_warm": Bench(TESTS_SPARSE, *_m("verpo", {"alpha": 0.5}, {"alpha": 0.0}), "shaping/verpo/mean_pass", warm="verpo", stop="", max_tokens=8, entropy_coef=0.0),
    "checklist": Bench(CHECKS, *_m("checklist", {"alpha": 0.5}, {"alpha": 0.0}), "shaping/checklist/turn_score"),
    "checklist_beam": Bench(BEAM, *_m("checklist", {"alpha": 0.5}, {"alpha": 0.0}), "shaping/checklist/turn_score"),
    # process: the `rules` scorer runs in both (so its metric is logged); only the `hybrid` run trains on it
    "process": Bench(RETRY, {"process": {"scorer": "rules"}}, {"process": {"scorer": "rules"}}, "shaping/process/mean",
                     {"advantage": "hybrid", "process_coef": 1.0}, {"advantage": "grpo"}),
    # warm start: the model first learns to retry after "wrong", repeating its wrong reply half the time
    "process_warm": Bench(RETRY, {"process": {"scorer": "rules"}}, {"process": {"scorer": "rules"}}, "shaping/process/mean",
                          {"advantage": "hybrid", "process_coef": 1.0}, {"advantage": "grpo"}, warm="process", stop="", max_tokens=8,
                          entropy_coef=0.0),
    # warm start: the model first learns even-length replies of 2-12 characters (odd in 20% of episodes); 13 tokens at
    # most, so a reply cut off at the limit is odd (wrong) rather than a free way to be right
    "length_budget_warm": Bench(EVEN, *_m("length_budget", {"initial": 12, "final": 2, "decay": 0.5, "interval": 5, "weight": 1.0},
                                          {"initial": 12, "final": 2, "decay": 0.5, "interval": 5, "weight": 0.0}),
                                "shaping/length_budget/correct_length", warm="length", stop="", max_tokens=13, entropy_coef=0.0),
    # warm start: the model first learns to copy the digit half the time; the verifier flips `correct` at FP 0.2 / FN 0.1.
    # Metric: the run's correctness estimate minus the clean success rate (raw without the correction, corrected with it)
    "noisy_warm": Bench(NOISY, *_m("noisy_verifier", {"fp_rate": 0.2, "fn_rate": 0.1}, {"fp_rate": 0.0, "fn_rate": 0.0}), NOISE_BIAS,
                        warm="noisy", stop="", max_tokens=8, entropy_coef=0.0),
    # warm start: the model first learns to guess a hidden digit, repeating its wrong guess half the time after "wrong";
    # nothing in the prompt tells the digit, so success stays low (0.22 measured) and only the process reward punishes repeats directly
    "process_guess": Bench(GUESS, {"process": {"scorer": "rules"}}, {"process": {"scorer": "rules"}}, "shaping/process/mean",
                           {"advantage": "hybrid", "process_coef": 1.0}, {"advantage": "grpo"}, warm="guess", stop="", max_tokens=8,
                           entropy_coef=0.0),
    # warm start: the model first learns to reply the digit (right half the time) padded to 1-6 characters; only
    # replies of at most 2 characters can be correct, so length and reward are related, but not determined by each other
    "canon_warm": Bench(SHORT_COPY, {}, {}, "tokens/completion_mean", {"advantage": "canon", "canon_metric": "length", "canon_mu": 0.9},
                        {"advantage": "canon", "canon_metric": "length", "canon_mu": 0.5}, warm="short", stop="", max_tokens=8,
                        entropy_coef=0.0),
    # canon: mu 0.5 with equal halves (even group size) is exactly Dr. GRPO, and still logs canon's metrics
    "canon": Bench(SHORT, {}, {}, "shaping/canon/reward_gap", {"advantage": "canon", "canon_metric": "length", "canon_mu": 0.9},
                   {"advantage": "canon", "canon_metric": "length", "canon_mu": 0.5}),
}


def register_reply_envs() -> None:
    """`short-reply-v0` (see SHORT) and `digit-tests-v0` (see TESTS)."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class ShortReply(CopyDigitsEnv):
        env_id = SHORT_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            ok = 0 < len(action.strip()) <= 2
            components = {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": float(ok)}
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(ok, float(ok), components))

    class DigitTests(CopyDigitsEnv):
        env_id = TESTS_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            result = super().on_turn(action)
            if result.verdict is not None:
                reply, digits = action.strip(), self.task.digits  # type: ignore[union-attr]
                per_test = [int(i < len(reply) and reply[i] == d) for i, d in enumerate(digits)]
                result.verdict.details["per_test"] = per_test
            return result

    class DigitChecklist(CopyDigitsEnv):
        env_id = CHECK_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            result = super().on_turn(action)
            reply = action.strip()
            result.info["checklist"] = [
                {"name": "has_digit", "passed": any(c.isdigit() for c in reply), "evidence": repr(reply)},
                {"name": "short", "passed": 0 < len(reply) <= 2, "evidence": f"{len(reply)} characters"},
            ]
            return result

    registry = get_registry().envs.names()
    if CHECK_ENV not in registry:
        register_env(CHECK_ENV, DigitChecklist)
    if SHORT_ENV not in registry:
        register_env(SHORT_ENV, ShortReply)
    if TESTS_ENV not in registry:
        register_env(TESTS_ENV, DigitTests)


def register_warm_envs() -> None:
    """`confident-copy-v0` (see CONF), `peek-copy-v0` (see PEEK), `guess-digit-v0` (see GUESS: copy-digits with
    the digit left out of the prompt) and `short-copy-v0` (see SHORT_COPY: the digit first, 2 characters at most)."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv, judge
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env
    from verigym.trainer.shaping.rlcr import CONFIDENCE_TAG

    class ConfidentCopy(CopyDigitsEnv):
        env_id = CONF_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            return super().on_turn(CONFIDENCE_TAG.sub("", action))

    class PeekCopy(CopyDigitsEnv):
        env_id = PEEK_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            if "<tool_call>" in action and self.turn < self.config.max_turns:
                return TurnResult([{"role": "tool", "content": "digits: " + self.task.digits}])  # type: ignore[union-attr]
            verdict = judge(self.task.digits, action, tags=False)  # type: ignore[union-attr]
            return TurnResult([{"role": "user", "content": "done"}], terminated=True, verdict=verdict)

    class GuessDigit(CopyDigitsEnv):
        env_id = GUESS_ENV

        def opening_messages(self, task):  # type: ignore[override]
            return [{"role": "user", "content": f"Guess the hidden digit, {self.config.max_turns} tries."}]

    class ShortCopy(CopyDigitsEnv):
        env_id = SHORT_COPY_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            reply = action.strip()
            ok = 0 < len(reply) <= 2 and reply[0] == self.task.digits  # type: ignore[union-attr]
            components = {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": float(ok)}
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(ok, float(ok), components))

    names = get_registry().envs.names()
    for env_id, cls in ((CONF_ENV, ConfidentCopy), (PEEK_ENV, PeekCopy), (GUESS_ENV, GuessDigit), (SHORT_COPY_ENV, ShortCopy)):
        if env_id not in names:
            register_env(env_id, cls)


class Teacher:
    """A scripted policy whose episodes are the warm start's SFT data; each episode's draws are seeded by
    (seed, sample), so an episode's turns agree with each other."""

    name = "teacher"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def generate(self, requests: list[Any], sampling: Any) -> list[Any]:
        from verigym.agents.policy import Completion

        return [Completion(self.reply(r)) for r in requests]

    def reply(self, request: Any) -> str:
        rng = random.Random(zlib.crc32(f"{request.seed}:{request.sample}".encode()))
        digit = request.env.task.digits
        wrong = rng.choice([d for d in "0123456789" if d != digit])
        if self.kind == "process":  # right 40% of the time; after "wrong", half the time the same wrong reply again
            earlier = [m["content"] for m in request.messages if m["role"] == "assistant"]
            if earlier and rng.random() < 0.5:
                return earlier[-1]
            turn_rng = random.Random(zlib.crc32(f"{request.seed}:{request.sample}:{request.turn}".encode()))
            return digit if turn_rng.random() < 0.4 else turn_rng.choice("0123456789".replace(digit, ""))
        if self.kind == "guess":  # a random digit; after "wrong", half the time the same guess again
            earlier = [m["content"] for m in request.messages if m["role"] == "assistant"]
            if earlier and rng.random() < 0.5:
                return earlier[-1]
            return random.Random(zlib.crc32(f"{request.seed}:{request.sample}:{request.turn}".encode())).choice("0123456789")
        if self.kind == "length":  # 2-12 digits, an odd count in 20% of episodes (even-reply: even is correct)
            length = rng.choice(range(2, 13, 2)) - (rng.random() < 0.2)
            return "".join(rng.choice("0123456789") for _ in range(length))
        if self.kind == "short":  # the digit half the time, padded with random digits to 1-6 characters
            return ((digit if rng.random() < 0.5 else wrong) + "".join(rng.choice("0123456789") for _ in range(5)))[: rng.randint(1, 6)]
        if self.kind == "noisy":  # right half the time
            return digit if rng.random() < 0.5 else wrong
        if self.kind == "verpo":  # each digit right half the time
            return "".join(d if rng.random() < 0.5 else rng.choice("0123456789".replace(d, "")) for d in digit)
        if self.kind == "rlcr":  # right half the time; a confidence unrelated to it
            answer = digit if rng.random() < 0.5 else wrong
            return f"{answer}<confidence>{rng.choice([0.1, 0.3, 0.5, 0.7, 0.9])}</confidence>"
        peeks = rng.choices([0, 1, 2], weights=[1, 8, 1])[0]  # otc: mostly one peek, then answer (right 90% of the time)
        if request.turn < peeks:
            return PEEK_CALL
        return digit if rng.random() < 0.9 else wrong


TEACHERS = {"rlcr": CONF, "otc": PEEK, "verpo": TESTS_SPARSE, "process": RETRY, "guess": GUESS, "length": EVEN, "noisy": NOISY,
            "short": SHORT_COPY}


def warm_start(kind: str, base: str, args: argparse.Namespace) -> str:
    """The tiny model `base` fine-tuned (`verigym sft`) on 2,000 episodes of `Teacher(kind)`; built once under
    --model-dir and reused."""
    from transformers import AutoTokenizer

    from verigym.agents.collect import collect
    from verigym.trainer.sft import run_sft, sft_config_from_dict

    root = Path(args.model_dir + f"-warm-{kind}")
    final = root / "final-model"
    if (final / "config.json").is_file():
        return str(final)
    env = TEACHERS[kind]
    data = root / "teacher.parquet"
    root.mkdir(parents=True, exist_ok=True)
    collect(env["id"], Teacher(kind), list(range(10_000_000, 10_002_000)), env_kwargs=env["kwargs"], concurrency=64,
            schedule="lockstep", tokenizer=AutoTokenizer.from_pretrained(base), out=data)
    result = run_sft(sft_config_from_dict({
        "run_dir": str(root), "model": {"path": base},
        "data": {"files": [str(data)], "eval_fraction": 0.05},
        "train": {"epochs": 100, "max_steps": args.warm_steps, "batch_size": 16, "torch_threads": args.threads, "eval_every": 0},
        "optim": {"lr": 3e-3, "warmup_steps": 20, "schedule": "cosine", "min_lr_ratio": 0.1},
    }))
    return str(result["final_model"])


def register_even_env() -> None:
    """`even-reply-v0` (see EVEN)."""
    from verigym.envs.base import TurnResult
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    class EvenReply(CopyDigitsEnv):
        env_id = EVEN_ENV

        def on_turn(self, action: str):  # type: ignore[override]
            ok = len(action) % 2 == 0
            components = {"format": 1.0, "numeric": 0.0, "digits": 0.0, "correct": float(ok)}
            return TurnResult([{"role": "user", "content": "ok"}], terminated=True, verdict=Verdict(ok, float(ok), components))

    if EVEN_ENV not in get_registry().envs.names():
        register_env(EVEN_ENV, EvenReply)


def register_noisy_env(fp: float = 0.2, fn: float = 0.1) -> None:
    """`noisy-copy-digits-v0` and `noisy-even-reply-v0`: copy-digits / even-reply whose `correct` component is
    flipped at rates (fp, fn), seeded per episode; `passed` (the success rate) stays the clean outcome, so the
    table can report clean success. Call after `register_even_env`."""
    from verigym.envs.copy_digits.env import CopyDigitsEnv
    from verigym.envs.verdict import Verdict
    from verigym.plugins.registry import get_registry, register_env

    def noisy(base: type, env_id: str) -> type:
        class Noisy(base):  # type: ignore[misc, valid-type]
            def on_turn(self, action: str):  # type: ignore[override]
                result = super().on_turn(action)
                if result.verdict is not None:
                    v = result.verdict
                    rng = random.Random(zlib.crc32(f"{self.task.seed}:{action}".encode()))
                    flip = rng.random() < (fn if v.passed else fp)
                    comps = dict(v.components)
                    comps["correct"] = float(v.passed) if not flip else 1.0 - float(v.passed)
                    result.verdict = Verdict(v.passed, v.score, comps, v.details)
                return result

        Noisy.env_id = env_id
        return Noisy

    names = get_registry().envs.names()
    if NOISY_ENV not in names:
        register_env(NOISY_ENV, noisy(CopyDigitsEnv, NOISY_ENV))
    if NOISY_EVEN_ENV not in names:
        register_env(NOISY_EVEN_ENV, noisy(get_registry().envs.get(EVEN_ENV).spec.entry_point, NOISY_EVEN_ENV))


def build_config(shaping: dict[str, Any], algorithm: dict[str, Any], env: dict[str, Any], args: argparse.Namespace, model: str, run_dir: str,
                 stop: str | None = None, max_tokens: int | None = None, entropy_coef: float = 0.02) -> Any:
    """The validated `TrainerConfig` of one benchmark run (`stop`, `max_tokens`: a bench's own, else the flags')."""
    from verigym.trainer.config import TrainerConfig, from_dict

    stop = args.stop if stop is None else stop

    return from_dict(TrainerConfig, {
        "run_dir": run_dir, "seed": args.seed, "max_steps": args.steps, "model": {"path": model},
        "env": env,
        "rollout": {"engine": args.engine, "groups_per_step": args.groups, "group_size": args.group_size, "max_tokens": max_tokens or args.max_tokens,
                    "stop": [x for x in stop.split(",") if x], "max_model_len": 256},
        "algorithm": algorithm,
        "loss": {"entropy_coef": entropy_coef},
        "shaping": shaping,
        "optim": {"lr": 1e-3, "micro_batch_size": 128},
        "eval": {"episodes": 0}, "checkpoint": {"every": 0, "keep": 1},
        "log": {"progress": False, "tensorboard": False, "plot_at_end": False},
    }).validate()


def run(method: str, shaping: dict[str, Any], algorithm: dict[str, Any], bench: Bench, args: argparse.Namespace, model: str) -> tuple[list[dict], float]:
    from verigym.trainer.loop import Trainer
    from verigym.trainer.metrics import read_metrics

    run_dir = tempfile.mkdtemp(prefix=f"bench-shaping-{method}-")
    cfg = build_config(shaping, algorithm, bench.env, args, model, run_dir, bench.stop, bench.max_tokens, bench.entropy_coef)
    start = time.perf_counter()
    Trainer(cfg, resume=False).fit()
    rows = [r for r in read_metrics(run_dir) if "final" not in r and "reward/mean" in r]
    return [with_noise_bias(r) for r in rows], time.perf_counter() - start


def with_noise_bias(row: dict) -> dict:
    """`row` plus NOISE_BIAS: the step's correctness estimate (corrected, or raw when the rates are 0) minus its clean
    success rate; an unbiased estimate averages to 0 over steps."""
    estimate, clean = row.get("shaping/noisy_verifier/corrected_correct"), row.get("success_rate")
    return {**row, NOISE_BIAS: estimate - clean} if estimate is not None and clean is not None else row


def window(rows: list[dict], key: str, first: bool) -> float:
    k = max(len(rows) // 4, 1)
    part = rows[:k] if first else rows[-k:]
    values = [r[key] for r in part if r.get(key) is not None]
    return sum(values) / len(values) if values else float("nan")


def row(method: str, label: str, metric: str, metrics: list[dict], wall: float) -> str:
    """One table row: the metric over the first and last quarter, completion tokens and success (last quarter)."""
    first, last = window(metrics, metric, True), window(metrics, metric, False)
    tokens, success = window(metrics, "tokens/completion_mean", False), window(metrics, "success_rate", False)
    return f"| {method} | {label} | `{metric}` | {first:.3f} | {last:.3f} | {tokens:.2f} | {success:.3f} | {wall:.0f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=6)
    parser.add_argument("--engine", default="hf")
    # a random tiny model almost never samples EOS within a few tokens, so every reply would be max-tokens long and
    # length shaping would have nothing to compare; stopping at a common character gives replies of 1..max tokens
    parser.add_argument("--stop", default="e,t", help="comma-separated stop strings ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", default="", help="start from this HF model dir instead of a random tiny model")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "verigym-bench-shaping-model"))
    parser.add_argument("--warm-steps", type=int, default=1000, help="SFT steps of a warm start (the methods with a teacher)")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")

    import torch

    from verigym.agents.tiny_model import build_tiny_model

    torch.set_num_threads(args.threads)

    model = args.model or args.model_dir
    if not args.model and not Path(args.model_dir, "config.json").is_file():
        build_tiny_model(args.model_dir, layers=2, hidden=128, heads=2, kv_heads=2, seed=0, init_std=0.02)
    register_even_env()
    register_noisy_env()
    register_reply_envs()
    register_warm_envs()
    print(f"{args.steps} steps x {args.groups} x {args.group_size} episodes, engine {args.engine}, model: {model}, stop strings: {args.stop!r}\n")
    print("| method | run | metric | first quarter | last quarter | completion tokens (last q.) | success (last q.) | wall s |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for method in methods:
        bench = METHODS[method]
        start = model
        if bench.warm:
            print(f"{method}: warm start (SFT on {bench.warm} teacher episodes)...", file=sys.stderr, flush=True)
            start = warm_start(bench.warm, model, args)
        for label, shaping, algorithm in (("without", bench.off, bench.algorithm_off), ("with", bench.on, bench.algorithm_on)):
            print(f"{method}: {label} ({args.steps} steps)...", file=sys.stderr, flush=True)
            metrics, wall = run(method, shaping, algorithm, bench, args, start)
            print(row(method, label, bench.metric, metrics, wall), flush=True)  # each row as soon as it is measured
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
