"""The action grammar: BrowserGym's high-level calls, one per turn.

    click("12")   fill("12", "text")   select_option("12", "M")   goto("/orders")   go_back()
    scroll(0, 500)   noop()   send_msg_to_user("42")   (the last one answers and ends the episode)

The call may follow free text (reasoning, `<think>...</think>`, a code fence); it must start a line, and a turn
holds exactly one. Arguments are Python literals read with `ast.literal_eval` semantics (never evaluated).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_ACTION_CHARS = 20_000
SIGNATURES: dict[str, tuple[type | tuple[type, ...], ...]] = {
    "click": ((str, int),),
    "fill": ((str, int), str),
    "select_option": ((str, int), str),
    "goto": (str,),
    "go_back": (),
    "scroll": ((int, float), (int, float)),
    "noop": (),
    "send_msg_to_user": (str,),
}
_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL)
_CALL_LINE = re.compile(r"^\s*(" + "|".join(SIGNATURES) + r")\s*\(", re.MULTILINE)
_ANY_CALL = re.compile(r"^\s*([a-z_]+)\s*\(.*\)\s*$")


@dataclass(frozen=True)
class WebAction:
    """A parsed call: `name` and its positional arguments (bids normalised to int)."""

    name: str
    args: tuple[str | int | float, ...] = ()

    @property
    def bid(self) -> int:
        """The element number of click/fill/select_option."""
        return int(self.args[0])

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_literal(a, i == 0 and self.name in ('click', 'fill', 'select_option')) for i, a in enumerate(self.args))})"


class ActionSyntaxError(ValueError):
    """The turn held no valid action; the message is shown to the agent."""


def parse(text: object) -> WebAction:
    """The one action in an agent turn, or `ActionSyntaxError` saying what is wrong."""
    if not isinstance(text, str):
        raise ActionSyntaxError(f"the action must be text, got {type(text).__name__}")
    if len(text) > MAX_ACTION_CHARS:
        raise ActionSyntaxError(f"the action is {len(text)} characters long; the limit is {MAX_ACTION_CHARS}")
    visible = _THINK.sub("", text).replace("```python", "\n").replace("```", "\n")
    starts = [m.start(1) for m in _CALL_LINE.finditer(visible)]
    if not starts:
        unknown = next((m.group(1) for line in visible.splitlines() if (m := _ANY_CALL.match(line))), None)
        hint = f"unknown action {unknown!r}; " if unknown else "no action found; "
        raise ActionSyntaxError(hint + "send one of " + ", ".join(f"{n}(...)" for n in SIGNATURES))
    if len(starts) > 1:
        raise ActionSyntaxError(f"the turn has {len(starts)} actions; send exactly one per turn")
    call = _read_call(visible[starts[0]:])
    return _check(call)


def _read_call(source: str) -> ast.Call:
    """The call at the start of `source`: the shortest prefix ending in ')' that parses as one call."""
    for end in range(source.find(")") + 1, len(source) + 1):
        if source[end - 1] != ")":
            continue
        try:
            tree = ast.parse(source[:end].strip(), mode="eval")
        except SyntaxError:
            continue
        if isinstance(tree.body, ast.Call):
            rest = source[end:].strip()
            if rest and not rest.startswith("#"):
                raise ActionSyntaxError(f"unexpected text after the action: {rest[:60]!r}; send only the call")
            return tree.body
    raise ActionSyntaxError(f"could not parse the action {source.strip()[:80]!r}; quote strings, e.g. click(\"12\")")


def _check(call: ast.Call) -> WebAction:
    if not isinstance(call.func, ast.Name):
        raise ActionSyntaxError("the action must be a plain call such as click(\"12\")")
    name = call.func.id
    if call.keywords:
        raise ActionSyntaxError(f"{name}() takes positional arguments only")
    signature = SIGNATURES[name]
    if len(call.args) != len(signature):
        raise ActionSyntaxError(f"{name}() takes {len(signature)} argument(s), got {len(call.args)}")
    values = []
    for i, (node, kind) in enumerate(zip(call.args, signature)):
        try:
            value = ast.literal_eval(node)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ActionSyntaxError(f"argument {i + 1} of {name}() must be a literal {_kind_name(kind)}")
        values.append(value)
    if name in ("click", "fill", "select_option"):
        bid = str(values[0]).strip()
        if not bid.isdigit():
            raise ActionSyntaxError(f"{name}() needs an element number such as \"12\", got {values[0]!r}")
        values[0] = int(bid)
    return WebAction(name, tuple(values))


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "string", int: "integer", float: "number"}[k] for k in kinds)


def _literal(value: object, as_bid: bool) -> str:
    import json

    if as_bid:
        return json.dumps(str(value))
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def format_action(name: str, *args: str | int | float) -> str:
    """The canonical text of an action (what the oracle sends)."""
    return str(WebAction(name, tuple(args)))
