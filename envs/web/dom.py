"""A minimal DOM for server-rendered pages: parse HTML into `Node`s, find interactive elements, serialise.

Both modes render observations from this tree: `text` mode parses the HTTP response, `browser` mode parses
Chromium's serialisation of its live DOM. The sites emit well-formed HTML (explicit tbody, closed tags, no
scripts), so both parsers build the same tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
#: The interactive elements, in document order; the CSS twin below numbers the same ones in Chromium.
INTERACTIVE_CSS = "a[href], button, input:not([type=hidden]), select, textarea"
SKIPPED = frozenset({"head", "script", "style", "template"})


@dataclass(eq=False)
class Node:
    """An element (`tag` set) or a text node (`tag == ""`, `text` set)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    text: str = ""

    def iter(self) -> list[Node]:
        """This node and its descendants in document (pre-)order."""
        out, stack = [], [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def text_content(self) -> str:
        """All descendant text, whitespace collapsed."""
        return " ".join("".join(n.text for n in self.iter() if not n.tag).split())

    def ancestor(self, tag: str) -> Node | None:
        """The nearest enclosing element named `tag`."""
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node

    @property
    def input_type(self) -> str:
        """An <input>'s type (default text), lower case."""
        return self.attrs.get("type", "text").lower()

    def is_interactive(self) -> bool:
        """Matches `INTERACTIVE_CSS`."""
        if self.tag == "a":
            return "href" in self.attrs
        if self.tag == "input":
            return self.input_type != "hidden"
        return self.tag in ("button", "select", "textarea")


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("", parent=self.stack[-1], text=data))


def parse(html: str) -> Node:
    """The document tree of `html`."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def interactive(root: Node) -> list[Node]:
    """Interactive elements in document order: element `i` has bid `i + 1`."""
    return [n for n in root.iter() if n.tag and n.is_interactive() and not _in_skipped(n)]


def find(root: Node, tag: str) -> Node | None:
    """The first element named `tag`."""
    return next((n for n in root.iter() if n.tag == tag), None)


def by_id(root: Node, ident: str) -> Node | None:
    """The element with `id == ident`."""
    return next((n for n in root.iter() if n.tag and n.attrs.get("id") == ident), None)


def options(select: Node) -> list[Node]:
    """A <select>'s <option> elements."""
    return [n for n in select.iter() if n.tag == "option"]


def selected_option(select: Node) -> Node | None:
    """The option a browser submits: the last one marked selected, else the first."""
    opts = options(select)
    marked = [o for o in opts if "selected" in o.attrs]
    return marked[-1] if marked else (opts[0] if opts else None)


def option_value(option: Node) -> str:
    """An option's submitted value (its `value`, else its text)."""
    return option.attrs["value"] if "value" in option.attrs else option.text_content()


def textarea_value(node: Node) -> str:
    """A <textarea>'s current value (its text; the leading newline HTML drops is dropped)."""
    raw = "".join(n.text for n in node.children if not n.tag)
    return raw[1:] if raw.startswith("\n") else raw


def set_textarea(node: Node, value: str) -> None:
    """Replace a <textarea>'s value."""
    node.children = [Node("", parent=node, text=value)] if value else []


def _in_skipped(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in SKIPPED:
            return True
        parent = parent.parent
    return False
