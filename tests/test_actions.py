import pytest

from verigym.envs import Answer, MalformedAction, ToolCall, format_answer, format_tool_call, parse_action

TOOLS = {"check", "execute"}


def test_canonical_forms_round_trip():
    assert parse_action(format_answer("R_A = P/2"), TOOLS) == Answer("R_A = P/2")
    assert parse_action(format_tool_call("check", {"R_A": "P"}), TOOLS) == ToolCall("check", {"R_A": "P"})


def test_reasoning_around_the_action_is_allowed_and_think_is_ignored():
    text = "<think>maybe <answer>1</answer></think> so the result:\n<answer> 2 </answer> done"
    assert parse_action(text, TOOLS) == Answer("2")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "no <answer>"),
        ("just words", "no <answer>"),
        ("<answer>1</answer><answer>2</answer>", "2 <answer> blocks"),
        ('<tool_call>{"name": "check"}</tool_call><answer>1</answer>', "both"),
        ("<tool_call>{not json}</tool_call>", "not valid JSON"),
        ('<tool_call>["check"]</tool_call>', 'string "name"'),
        ('<tool_call>{"name": "rm"}</tool_call>', "unknown tool 'rm'"),
        ('<tool_call>{"name": "check", "arguments": 3}</tool_call>', "must be a JSON object"),
        ('<tool_call>{"name": "check", "args": {}}</tool_call>', "unknown keys"),
        ("x" * 20_001, "limit is 20000"),
    ],
)
def test_malformed_actions_say_what_was_wrong(text, reason):
    parsed = parse_action(text, TOOLS)
    assert isinstance(parsed, MalformedAction)
    assert reason in parsed.reason


def test_non_text_actions_are_malformed_not_crashes():
    assert isinstance(parse_action(None, TOOLS), MalformedAction)
    assert isinstance(parse_action(b"<answer>1</answer>", TOOLS), MalformedAction)
