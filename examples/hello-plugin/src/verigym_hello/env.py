"""`hello-v0`: answer `hello NAME` for the name in the prompt."""

from __future__ import annotations

import random
from dataclasses import dataclass

from verigym.envs import (
    MalformedAction,
    Rubric,
    Task,
    TextEnv,
    TurnResult,
    Verdict,
    format_answer,
    parse_action,
)

NAMES = ("ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "john")


@dataclass(frozen=True)
class HelloTask(Task):
    name: str = ""


class HelloEnv(TextEnv[HelloTask]):
    """Single-answer env: the reward is 1 for exactly `hello NAME`."""

    env_id = "hello-v0"
    task_type = HelloTask

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"correct": 1.0})

    def generate_task(self, seed: int) -> HelloTask:
        return HelloTask(task_id=f"hello-{seed}", seed=seed, name=random.Random(seed).choice(NAMES))

    def opening_messages(self, task: HelloTask) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"Greet {task.name}. Reply <answer>hello {task.name}</answer>."}]

    def on_turn(self, action: str) -> TurnResult:
        parsed = parse_action(action)
        if isinstance(parsed, MalformedAction):
            return TurnResult([{"role": "user", "content": parsed.reason}], malformed=parsed.reason)
        ok = parsed.text.strip().lower() == f"hello {self.task.name}"
        verdict = Verdict(ok, float(ok), {"correct": float(ok)})
        return TurnResult([{"role": "user", "content": "correct" if ok else "wrong"}], terminated=True, verdict=verdict)

    def oracle_action(self) -> str:
        return format_answer(f"hello {self.task.name}")
