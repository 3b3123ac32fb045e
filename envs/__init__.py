"""The env API: `TextEnv`, task records, rubrics, verdicts and the shared action format."""

from verigym.envs.actions import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action
from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.rubric import Criterion, Rubric
from verigym.envs.spaces import ChatSpace, Message
from verigym.envs.task import Task
from verigym.envs.verdict import Verdict, VerifierError

__all__ = [
    "Answer",
    "ChatSpace",
    "Criterion",
    "EnvConfig",
    "MalformedAction",
    "Message",
    "Rubric",
    "Task",
    "TextEnv",
    "ToolCall",
    "TurnResult",
    "Verdict",
    "VerifierError",
    "format_answer",
    "format_tool_call",
    "parse_action",
]
