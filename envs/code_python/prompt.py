"""What the agent reads: the system prompt (tools, answer format) and the task statement."""

from __future__ import annotations

from verigym.envs.code_python import values
from verigym.envs.code_python.task import CodeTask, TestCase

SYSTEM = """You write one Python function. Each turn, send exactly one of:
  <tool_call>{{"name": "run", "arguments": {{"code": "<your module>"}}}}</tool_call>
      runs your code on the visible examples in your sandbox and shows which fail (expected vs got) and the output
  <tool_call>{{"name": "run", "arguments": {{"code": "<your module>", "snippet": "print(...)"}}}}</tool_call>
      runs your module followed by your own snippet as one script and shows stdout, stderr and the exit status
  <answer>
  <your module: the complete Python source defining the function>
  </answer>
      submits your solution (ends the episode)
You may use at most {budget} tool calls. Python 3 standard library only. The submission is graded on hidden tests
in a fresh sandbox: every hidden test must return exactly the right value, of exactly the right type (True is not
1, 1 is not 1.0, a tuple is not a list), within a time limit. Printing does not count; only returned values do."""


def system_prompt(tool_budget: int) -> str:
    return SYSTEM.format(budget=tool_budget)


def call_text(task: CodeTask, case: TestCase) -> str:
    """`entry(arg, ...)` for a test case."""
    args = values.loads(case.args)
    return f"{task.entry}({', '.join(repr(a) for a in args)})"


def statement(task: CodeTask) -> str:
    """The user message: signature, spec and visible examples."""
    examples = "\n".join(f"  {call_text(task, c)} == {values.loads(c.expected)!r}" for c in task.visible)
    return (f"Write a function with this signature:\n  {task.signature}\n\n{task.spec}\n\n"
            f"Examples:\n{examples}")
