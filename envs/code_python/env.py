"""`code-python-v0`: write a Python function to a spec; run it on examples in a sandbox; graded on hidden tests.

Tools (budgeted): `run` with `{"code": ...}` runs the module on the visible examples in the episode's own
sandbox session and reports failing examples (expected vs got) and the output; with `{"code": ..., "snippet":
...}` it runs the module followed by the snippet as one script and shows stdout, stderr and the exit status.
Submitting is `<answer>module source</answer>` (one way only; a ```python fence inside is allowed). Grading
runs in a fresh session (see `verifier` and `grading`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult, harness_result
from verigym.envs.code_python import values
from verigym.envs.code_python.generator import DIFFICULTIES, generate_task
from verigym.envs.code_python.grading import GradingConfig, run_harness
from verigym.envs.code_python.loader import load_jsonl
from verigym.envs.code_python.prompt import call_text, statement, system_prompt
from verigym.envs.code_python.task import CodeTask
from verigym.envs.code_python.verifier import COMPONENTS, grade
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.sandbox.records import MiB, Limits, Requirements

TOOLS = ("run",)
MAX_SHOWN = 2000  # characters of stdout / stderr shown by the run tool
_FENCE = re.compile(r"^\s*```(?:python|py)?\s*\n(.*?)\n?```\s*$", re.DOTALL)
GRADING_LIMITS = Limits(timeout_s=120.0, output_bytes=16 * MiB)  # the harness's own output (all results)


@dataclass
class CodePythonConfig(EnvConfig):
    """Settings of `code-python-v0`. `dataset` (a JSONL path) replaces the generated tasks (seed -> record)."""

    max_turns: int = 8
    tool_budget: int = 5
    difficulty: str | None = None  # easy | medium | hard (None: drawn from the seed)
    templates: tuple[str, ...] = ()  # restrict to these templates (empty: all)
    n_hidden: int | None = None  # hidden tests per task (None: the difficulty's default)
    dataset: str | None = None
    time_floor_s: float = 1.0
    time_factor: float = 10.0
    time_cap_s: float = 2.0
    give_up_after: int = 3
    run_timeout_s: float = 10.0  # the run tool's snippet mode
    pass_fraction_weight: float = 0.0
    efficiency_weight: float = 0.0


class CodePythonEnv(TextEnv[CodeTask]):
    """Function writing with sandboxed tools and hidden-test grading through a channel the candidate can't write."""

    env_id = "code-python-v0"
    task_type = CodeTask
    config_type = CodePythonConfig
    config: CodePythonConfig
    sandbox_requirements = Requirements(image="base", tools=("python3",))
    sandbox_limits = Limits(timeout_s=30.0)

    def __init__(self, config: CodePythonConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if isinstance(overrides.get("templates"), list):
            overrides["templates"] = tuple(overrides["templates"])
        super().__init__(config, render_mode, **overrides)
        if self.config.difficulty is not None and self.config.difficulty not in DIFFICULTIES:
            raise ValueError(f"code-python-v0: difficulty must be one of {DIFFICULTIES} or None, got {self.config.difficulty!r}")
        self.grading = GradingConfig(
            time_floor_s=self.config.time_floor_s, time_factor=self.config.time_factor,
            time_cap_s=self.config.time_cap_s, give_up_after=self.config.give_up_after,
        )
        self.dataset: tuple[CodeTask, ...] = ()
        if self.config.dataset:
            report = load_jsonl(self.config.dataset)
            if not report.tasks:
                raise ValueError(f"code-python-v0: no usable task in {self.config.dataset}: {report.skipped_records[:3]}")
            self.dataset = report.tasks
        self.tools_used = 0

    def build_rubric(self) -> Rubric:
        weights = dict(zip(COMPONENTS, (1.0, self.config.pass_fraction_weight, self.config.efficiency_weight)))
        return Rubric.from_verdict(weights, only_if={"efficiency": "correct"})

    def generate_task(self, seed: int) -> CodeTask:
        if self.dataset:
            return self.dataset[seed % len(self.dataset)]
        return generate_task(seed, self.config.difficulty, self.config.templates, self.config.n_hidden)

    def on_reset(self) -> None:
        self.tools_used = 0

    def opening_messages(self, task: CodeTask) -> list[Message]:
        return [{"role": "system", "content": system_prompt(self.config.tool_budget)},
                {"role": "user", "content": statement(task)}]

    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None
        parsed = parse_action(action, TOOLS)
        if isinstance(parsed, MalformedAction):
            return _malformed(parsed.reason)
        if isinstance(parsed, Answer):
            code = strip_fence(parsed.text)
            if not code.strip():
                return _malformed("the <answer> is empty; put the complete module source between the tags")
            verdict = grade(self.task, code, lambda: self.grading_session(GRADING_LIMITS), self.grading)
            passed, total = verdict.details["passed"], verdict.details["tests"]
            note = "all hidden tests passed" if verdict.passed else f"{passed}/{total} hidden tests passed"
            return TurnResult([_user(f"Solution submitted: {note}.")], terminated=True, verdict=verdict)
        return self._run(parsed)

    def _run(self, call: ToolCall) -> TurnResult:
        assert self.task is not None
        if self.tools_used >= self.config.tool_budget:
            return _malformed(f"the tool budget of {self.config.tool_budget} calls is used up; submit <answer>your code</answer>")
        code, snippet = call.arguments.get("code"), call.arguments.get("snippet")
        if not set(call.arguments) <= {"code", "snippet"} or not isinstance(code, str) or (
            snippet is not None and not isinstance(snippet, str)
        ):
            return _malformed(f'run takes "code" (a string) and optionally "snippet" (a string), got {sorted(call.arguments)}')
        self.tools_used += 1
        code = strip_fence(code)
        if snippet is not None:
            return TurnResult([_tool(self._snippet(code, snippet))])
        return TurnResult([_tool(self._examples(code))])

    def _snippet(self, code: str, snippet: str) -> str:
        self.sandbox.write_file("main.py", code + "\n\n" + snippet + "\n")
        result = harness_result(self.sandbox.exec(["python3", "main.py"], timeout=self.config.run_timeout_s))
        lines = [f"status: {result.status}" + (f" (exit code {result.exit_code})" if result.exit_code is not None else "")
                 + (f" - {result.detail}" if result.detail else "")]
        lines.append("stdout:\n" + _clip(result.stdout))
        lines.append("stderr:\n" + _clip(result.stderr))
        return "\n".join(lines)

    def _examples(self, code: str) -> str:
        assert self.task is not None
        task = self.task
        run = run_harness(self.sandbox, code, task.entry, [c.args for c in task.visible], self.grading, capture=True)
        lines = []
        for i, (case, outcome) in enumerate(zip(task.visible, run.outcomes), 1):
            want = values.loads(case.expected)
            head = f"example {i}: {call_text(task, case)}"
            if outcome.ok and values.same(want, outcome.value, numeric_ok=task.numeric_ok):
                lines.append(f"{head} -> passed")
            elif outcome.ok:
                lines.append(f"{head} -> FAILED: expected {values.show(want)} ({type(want).__name__}), "
                             f"got {values.show(outcome.value)} ({type(outcome.value).__name__})")
            else:
                lines.append(f"{head} -> FAILED: {outcome.status}" + (f": {outcome.detail}" if outcome.detail else ""))
        passed = sum(1 for line in lines if line.endswith("-> passed"))
        lines.insert(0, f"{passed}/{len(lines)} examples passed.")
        if run.anomaly:
            lines.append(f"The run was disrupted: {run.anomaly[:300]}")
        if run.stdout:
            lines.append("stdout:\n" + _clip(run.stdout))
        if run.stderr:
            lines.append("stderr:\n" + _clip(run.stderr))
        return "\n".join(lines)

    def oracle_action(self) -> str:
        """Run the reference on the examples once, then submit it."""
        assert self.task is not None
        if self.tools_used == 0 and self.config.tool_budget > 0:
            return format_tool_call("run", {"code": self.task.reference})
        return format_answer(self.task.reference)

    def sample_action(self, rng: random.Random) -> str:
        """An uninformed guess: the right signature returning a plausible constant or its first argument."""
        assert self.task is not None
        example = values.loads(self.task.visible[0].expected) if self.task.visible else None
        guesses = [repr(example), "None", "0", "''", "[]", "args[0] if args else None", "True"]
        code = f"def {self.task.entry}(*args):\n    return {rng.choice(guesses)}\n"
        if rng.random() < 0.3 and self.tools_used < self.config.tool_budget:
            return format_tool_call("run", {"code": code})
        return format_answer(code)


def strip_fence(text: str) -> str:
    """The code inside one ```python fence, or `text` unchanged."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"\n[... {len(text) - MAX_SHOWN} more characters]"


def _malformed(reason: str) -> TurnResult:
    return TurnResult([_user(f"Malformed action: {reason}.")], malformed=reason)


def _user(text: str) -> Message:
    return {"role": "user", "content": text}


def _tool(text: str) -> Message:
    return {"role": "tool", "content": text}
