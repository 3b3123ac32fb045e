"""The env API: `TextEnv`, task records, rubrics, verdicts and the shared action format."""

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult, harness_result, sandbox_failures
from verigym.envs.rubric import Criterion, Rubric
from verigym.envs.spaces import ChatSpace, Message
from verigym.envs.task import Task
from verigym.envs.verdict import DropReason, SandboxFailure, Verdict, VerifierError

__all__ = [
    "Answer",
    "ChatSpace",
    "Criterion",
    "DropReason",
    "EnvConfig",
    "MalformedAction",
    "Message",
    "Rubric",
    "SandboxFailure",
    "Task",
    "TextEnv",
    "ToolCall",
    "TurnResult",
    "Verdict",
    "VerifierError",
    "format_answer",
    "format_tool_call",
    "harness_result",
    "parse_action",
    "sandbox_failures",
]
