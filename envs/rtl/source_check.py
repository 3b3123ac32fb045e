"""Static refusal of candidate Verilog that could steer the simulation or reach outside the design.

Comments and strings are skipped with a small lexer; what remains may use only the system functions in
`ALLOWED_SYSTEM` (printing is harmless: the verdict never reads the simulator's text), only the directives in
`ALLOWED_DIRECTIVES`, no hierarchical names (`a.b`: they could reach into the testbench) and no escaped
identifiers. Anything else is refused with an observation naming it.
"""

from __future__ import annotations

import re

MAX_SOURCE_CHARS = 60_000
ALLOWED_SYSTEM = frozenset({
    "$signed", "$unsigned", "$clog2", "$bits", "$display", "$write", "$strobe", "$monitor", "$time", "$stime",
    "$realtime",
})
ALLOWED_DIRECTIVES = frozenset({"timescale", "default_nettype"})
_SYSTEM = re.compile(r"(?<![A-Za-z0-9_$])\$[A-Za-z0-9_$]*")
_DIRECTIVE = re.compile(r"`+([A-Za-z_][A-Za-z0-9_]*)?")
_HIERARCHY = re.compile(r"(?<![A-Za-z0-9_$'])([A-Za-z_][A-Za-z0-9_$]*)\s*\.\s*[A-Za-z_\\]")
_MODULE = re.compile(r"\b(module|macromodule)\s+([A-Za-z_][A-Za-z0-9_$]*)")


def strip_comments_and_strings(source: str) -> str:
    """`source` with comments and string literals blanked (newlines kept, so line numbers stay right)."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        two = source[i:i + 2]
        if two == "//":
            j = source.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif two == "/*":
            j = source.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in source[i:j]))
            i = j
        elif source[i] == '"':
            j = i + 1
            while j < n and source[j] != '"' and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            out.append('""')
            i = min(j + 1, n)
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def refusal(source: str) -> str | None:
    """Why `source` is refused (shown to the agent), or None when it may be compiled."""
    if not isinstance(source, str) or not source.strip():
        return "the design is empty; send a complete Verilog module"
    if len(source) > MAX_SOURCE_CHARS:
        return f"the design is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}"
    if "\x00" in source:
        return "the design contains a NUL character"
    code = strip_comments_and_strings(source)
    problems: list[str] = []
    for m in _SYSTEM.finditer(code):
        if m.group(0) not in ALLOWED_SYSTEM:
            problems.append(f"line {_line(code, m.start())}: system task/function `{m.group(0) or '$'}` is not allowed "
                            "(designs may not end or steer the simulation or touch files)")
    for m in _DIRECTIVE.finditer(code):
        if m.group(1) not in ALLOWED_DIRECTIVES:
            problems.append(f"line {_line(code, m.start())}: compiler directive `{m.group(0)}` is not allowed "
                            "(only `timescale and `default_nettype; no `include or macros)")
    for m in _HIERARCHY.finditer(code):
        problems.append(f"line {_line(code, m.start())}: hierarchical name `{m.group(0).strip()}...` is not allowed "
                        "(a design may only use its own signals)")
    if "\\" in code:
        problems.append(f"line {_line(code, code.index(chr(92)))}: escaped identifiers (\\name) are not allowed")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        return "the design was refused: " + "; ".join(problems[:5]) + more
    return None


def module_names(source: str) -> list[str]:
    """Names of the modules `source` defines (comments and strings skipped)."""
    return [m.group(2) for m in _MODULE.finditer(strip_comments_and_strings(source))]


def _line(code: str, pos: int) -> int:
    return code.count("\n", 0, pos) + 1
