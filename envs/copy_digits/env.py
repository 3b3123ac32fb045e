"""`copy-digits-v0`: the agent must answer with the digit string it was shown, `<answer>371</answer>`.

Built so a randomly initialised tiny model can learn it by RL alone: dense reward components give partial
credit for the answer format and for every digit in its right place, and completions are a few tokens long.
With `max_turns > 1` a wrong answer is told "wrong" and may retry; the last attempt is always judged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from verigym.envs.actions import Answer, format_answer, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.task import Task
from verigym.envs.verdict import Verdict

DIGITS = "0123456789"
ANSWER_OPEN = "<answer>"
DEFAULT_WEIGHTS = {"format": 0.2, "numeric": 0.3, "digits": 1.0, "correct": 1.0}


@dataclass(frozen=True)
class CopyTask(Task):
    """The digit string to copy."""

    digits: str = ""


@dataclass
class CopyConfig(EnvConfig):
    """`min_len`..`max_len` digits per task; the prompt shows the string `repeat` times (more copies make it
    easier for a tiny random model to attend to); `max_turns` attempts (1: single-turn); rubric `weights`.
    `answer_tags = false` also accepts a bare reply (`371`, no tags) as the answer: the task is then only the
    copy, without the tag format a random model must first discover (see `judge`)."""

    max_turns: int = 1
    min_len: int = 2
    max_len: int = 3
    repeat: int = 1
    answer_tags: bool = True
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


class CopyDigitsEnv(TextEnv[CopyTask]):
    """Copy a digit string. Components: `format` (1 for a well-formed non-empty answer, 0.25 for any other
    `<answer>`: partial format credit that does not depend on the answer's content would make an empty or
    non-digit answer a trap the policy settles in before it ever samples a digit; an unclosed answer that
    opens the turn still earns `numeric` and `digits`),
    `numeric` (how many answer characters are digits, up to the target length, over the longer length),
    `digits` (fraction of positions right, over the longer of answer and target; both 0 unless the turn
    opens with `<answer>`, so that format is learnt first), `correct` (exact)."""

    env_id = "copy-digits-v0"
    task_type = CopyTask
    config_type = CopyConfig

    def build_rubric(self) -> Rubric:
        weights = dict(self.config.weights)  # type: ignore[attr-defined]
        if set(weights) != set(DEFAULT_WEIGHTS):
            raise ValueError(f"copy-digits: weights must name exactly {sorted(DEFAULT_WEIGHTS)}, got {sorted(weights)}")
        return Rubric.from_verdict({name: float(weights[name]) for name in DEFAULT_WEIGHTS})

    def generate_task(self, seed: int) -> CopyTask:
        cfg: CopyConfig = self.config  # type: ignore[assignment]
        if not 1 <= cfg.min_len <= cfg.max_len:
            raise ValueError(f"copy-digits: need 1 <= min_len <= max_len, got {cfg.min_len}..{cfg.max_len}")
        rng = random.Random(seed)
        digits = "".join(rng.choice(DIGITS) for _ in range(rng.randint(cfg.min_len, cfg.max_len)))
        return CopyTask(task_id=f"copy-{seed}", seed=seed, digits=digits)

    def opening_messages(self, task: CopyTask) -> list[Message]:
        repeat = max(1, int(self.config.repeat))  # type: ignore[attr-defined]
        return [{"role": "user", "content": "Copy: " + " ".join([task.digits] * repeat)}]

    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None
        verdict = judge(self.task.digits, action, tags=self.config.answer_tags)  # type: ignore[attr-defined]
        last = self.turn >= self.config.max_turns
        malformed = None if verdict.components["format"] == 1.0 else "no well-formed <answer>...</answer> found"
        if verdict.passed or last:
            reply = "correct" if verdict.passed else f"wrong; the digits were {self.task.digits}"
            return TurnResult([{"role": "user", "content": reply}], terminated=True, verdict=verdict, malformed=malformed)
        return TurnResult([{"role": "user", "content": "wrong, try again"}], malformed=malformed)

    def oracle_action(self) -> str:
        assert self.task is not None
        return format_answer(self.task.digits) if self.config.answer_tags else self.task.digits  # type: ignore[attr-defined]

    def sample_action(self, rng: random.Random) -> str:
        return format_answer("".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 4))))


def judge(target: str, action: str, tags: bool = True) -> Verdict:
    """Score one answer to `target` (a pure function of its inputs). With `tags=False` a reply without any
    tag is the answer itself (stripped), well-formed when non-empty."""
    parsed = parse_action(action)
    if not tags and isinstance(action, str) and "<" not in action:
        text = action.strip()
        fmt = 1.0 if text else 0.0
    elif isinstance(parsed, Answer):
        fmt, text = (1.0 if parsed.text else 0.25), parsed.text
    elif isinstance(action, str) and action.lstrip().startswith(ANSWER_OPEN):
        fmt, text = 0.25, action.lstrip()[len(ANSWER_OPEN):].split("<", 1)[0].strip()
    elif isinstance(action, str) and ANSWER_OPEN in action:
        fmt, text = 0.25, ""
    else:
        fmt, text = 0.0, ""
    longest = max(len(text), len(target))
    numeric = min(sum(c.isdigit() for c in text), len(target)) / longest
    digits = sum(a == b for a, b in zip(text, target)) / longest
    correct = float(fmt == 1.0 and text == target)
    components = {"format": fmt, "numeric": numeric, "digits": digits, "correct": correct}
    return Verdict(bool(correct), correct, components, {"answer": text})
