"""A toy env (addition with a hint tool) used by the framework tests."""

from __future__ import annotations

import random
from dataclasses import dataclass

from verigym.envs import (
    MalformedAction,
    Rubric,
    Task,
    TextEnv,
    ToolCall,
    TurnResult,
    Verdict,
    VerifierError,
    format_answer,
    format_tool_call,
    parse_action,
)


@dataclass(frozen=True)
class AddTask(Task):
    a: int = 0
    b: int = 0


class AddEnv(TextEnv[AddTask]):
    """Add two numbers; a `hint` tool reveals nothing useful; answer `-999` makes the verifier crash."""

    env_id = "toy-add-v0"
    task_type = AddTask

    def build_rubric(self) -> Rubric:
        return Rubric.from_verdict({"correct": 1.0, "format": 0.1}, only_if={"format": "correct"})

    def generate_task(self, seed: int) -> AddTask:
        rng = random.Random(seed)
        return AddTask(task_id=f"add-{seed}", seed=seed, a=rng.randint(0, 99), b=rng.randint(0, 99))

    def opening_messages(self, task: AddTask) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"What is {task.a}+{task.b}?"}]

    def on_turn(self, action: str) -> TurnResult:
        parsed = parse_action(action, tools={"hint"})
        if isinstance(parsed, MalformedAction):
            return TurnResult([{"role": "user", "content": parsed.reason}], malformed=parsed.reason)
        if isinstance(parsed, ToolCall):
            return TurnResult([{"role": "tool", "content": "the answer is a number"}])
        if parsed.text == "-999":
            raise VerifierError("toy verifier crashed on purpose")
        ok = parsed.text == str(self.task.a + self.task.b)
        verdict = Verdict(ok, float(ok), {"correct": float(ok), "format": 1.0})
        return TurnResult([{"role": "user", "content": "right" if ok else "wrong"}], terminated=True, verdict=verdict)

    def oracle_action(self) -> str:
        if self.turn == 0:
            return format_tool_call("hint", {})
        return format_answer(str(self.task.a + self.task.b))
