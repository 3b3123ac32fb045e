"""The one action format every environment parses: a tool call or a final answer.

An assistant turn may contain free text (reasoning, `<think>...</think>`) and then exactly one of

    <tool_call>{"name": "check", "arguments": {"R_A": "3*P/4"}}</tool_call>
    <answer>R_A = 3*P/4, R_B = P/4</answer>

Anything else (none of them, several, broken JSON, an unknown tool) is a `MalformedAction` whose `reason`
says exactly what was wrong, which the env sends back to the agent as an observation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

MAX_ACTION_CHARS = 20_000

_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL)
_TOOL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """A request to run tool `name` with JSON `arguments`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """The agent's final answer (text between the answer tags, stripped)."""

    text: str


@dataclass(frozen=True)
class MalformedAction:
    """An action that could not be parsed; `reason` is meant to be shown to the agent."""

    reason: str


Action = ToolCall | Answer | MalformedAction


def format_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """Render a tool call in the canonical format (what the oracle and docs use)."""
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def format_answer(text: str) -> str:
    """Render a final answer in the canonical format."""
    return f"<answer>{text}</answer>"


def parse_action(text: Any, tools: Collection[str] = ()) -> Action:
    """Parse one assistant turn; `tools` are the tool names this env accepts."""
    if not isinstance(text, str):
        return MalformedAction(f"the action must be text, got {type(text).__name__}")
    if len(text) > MAX_ACTION_CHARS:
        return MalformedAction(f"the action is {len(text)} characters long; the limit is {MAX_ACTION_CHARS}")
    visible = _THINK.sub("", text)
    calls = _TOOL.findall(visible)
    answers = _ANSWER.findall(visible)
    if calls and answers:
        return MalformedAction("the turn has both a <tool_call> and an <answer>; send exactly one of them")
    if len(answers) > 1:
        return MalformedAction(f"the turn has {len(answers)} <answer> blocks; send exactly one")
    if len(calls) > 1:
        return MalformedAction(f"the turn has {len(calls)} <tool_call> blocks; send one per turn")
    if answers:
        return Answer(answers[0].strip())
    if not calls:
        hint = f" or a <tool_call> to one of {sorted(tools)}" if tools else ""
        return MalformedAction(f"no <answer>...</answer>{hint} found in the turn")
    return _parse_tool_call(calls[0], tools)


def _parse_tool_call(body: str, tools: Collection[str]) -> Action:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        return MalformedAction(f"the <tool_call> body is not valid JSON ({exc.msg} at char {exc.pos})")
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return MalformedAction('the <tool_call> JSON must be an object with a string "name"')
    extra = set(payload) - {"name", "arguments"}
    if extra:
        return MalformedAction(f"the <tool_call> JSON has unknown keys {sorted(extra)}; use name and arguments")
    arguments = payload.get("arguments", {})
    if not isinstance(arguments, dict):
        return MalformedAction('the <tool_call> "arguments" must be a JSON object')
    if payload["name"] not in tools:
        return MalformedAction(f"unknown tool {payload['name']!r}; available tools: {sorted(tools)}")
    return ToolCall(payload["name"], arguments)
