"""Render a page to accessibility-tree-like text with numbered interactive elements.

    URL: /search?q=linen
    Title: Search - Shop
    nav: [1] link "Home" (/) [2] link "Cart" (/cart) ...
    # Results for "linen"
    Name | Price | [7] link "Linen Shirt" (/product/3) | $24.00
    [9] textbox "Street" value="12 Oak St"
    [10] combobox "Size" selected="M" options="S", "M", "L"

Element `[n]` is the n-th interactive element in document order (`dom.INTERACTIVE_CSS`), which is how both
modes address it. The text is a pure function of the DOM tree and the page URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus, urlsplit

from verigym.envs.web import dom
from verigym.envs.web.dom import Node

BLOCK = frozenset(
    "address article aside blockquote div dl dt dd fieldset figure footer form h1 h2 h3 h4 h5 h6 header hr li main "
    "nav ol p pre section table tbody thead tfoot tr ul br".split()
)
HEADINGS = {"h1": "# ", "h2": "## ", "h3": "### ", "h4": "#### "}
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Element:
    """One numbered interactive element as the agent sees it."""

    bid: int
    role: str  # link | button | textbox | checkbox | radio | combobox
    label: str
    tag: str
    name: str = ""
    href: str = ""
    value: str = ""
    options: tuple[str, ...] = ()
    option_values: tuple[str, ...] = ()
    disabled: bool = False


@dataclass(frozen=True)
class Page:
    """What the agent observes: the rendered text and the numbered elements it mentions."""

    url: str
    title: str
    text: str
    elements: tuple[Element, ...]

    def element(self, bid: int) -> Element | None:
        """The element numbered `bid`, if any."""
        return self.elements[bid - 1] if 1 <= bid <= len(self.elements) else None


def display_url(url: str) -> str:
    """The path and query of `url`, percent-decoded (the agent never sees the ephemeral port)."""
    parts = urlsplit(url)
    shown = unquote(parts.path or "/")
    return shown + ("?" + unquote_plus(parts.query) if parts.query else "")


def render(root: Node, url: str) -> Page:
    """The observation of the document `root` loaded from `url`."""
    nodes = dom.interactive(root)
    bids = {id(n): i + 1 for i, n in enumerate(nodes)}
    labels = _labels(root)
    elements = tuple(_element(n, bids[id(n)], labels) for n in nodes)
    title_node = dom.find(root, "title")
    title = title_node.text_content() if title_node is not None else ""
    lines: list[str] = []
    body = dom.find(root, "body") or root
    _Walker(bids, {e.bid: e for e in elements}, lines).block(body)
    header = [f"URL: {display_url(url)}", f"Title: {title}"]
    return Page(display_url(url), title, "\n".join(header + lines), elements)


class _Walker:
    def __init__(self, bids: dict[int, int], elements: dict[int, Element], lines: list[str]) -> None:
        self.bids, self.elements, self.lines = bids, elements, lines
        self.buffer: list[str] = []
        self.prefix = ""

    def flush(self) -> None:
        text = " ".join(" ".join(self.buffer).split())
        if text:
            self.lines.append(self.prefix + text)
        self.buffer, self.prefix = [], ""

    def block(self, node: Node) -> None:
        for child in node.children:
            self.visit(child)
        self.flush()

    def visit(self, node: Node) -> None:
        if not node.tag:
            self.buffer.append(node.text)
            return
        if node.tag in dom.SKIPPED or node.tag == "label" or (node.tag == "input" and node.input_type == "hidden"):
            return
        bid = self.bids.get(id(node))
        if bid is not None:
            self.buffer.append(describe(self.elements[bid]))
            return
        if node.tag in ("td", "th"):
            if self.buffer and " ".join(self.buffer).strip():
                self.buffer.append("|")
            for child in node.children:
                self.visit(child)
            return
        if node.tag in BLOCK:
            self.flush()
            if node.tag in HEADINGS:
                self.prefix = HEADINGS[node.tag]
            elif node.tag == "li":
                self.prefix = "- "
            elif node.tag == "nav":
                self.prefix = "nav: "
            for child in node.children:
                self.visit(child)
            self.flush()
            return
        for child in node.children:
            self.visit(child)


def describe(e: Element) -> str:
    """One element as it appears in the observation."""
    text = f'[{e.bid}] {e.role} "{e.label}"'
    if e.role == "link":
        text += f" ({display_url(e.href)})"
    elif e.role == "textbox":
        text += f' value="{_clip(e.value)}"'
    elif e.role in ("checkbox", "radio"):
        text += " checked" if e.value else " unchecked"
    elif e.role == "combobox":
        text += f' selected="{e.value}" options=' + ", ".join(f'"{o}"' for o in e.options)
    if e.disabled:
        text += " disabled"
    return text


def _clip(value: str) -> str:
    value = value.replace("\n", "\\n")
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"


def _labels(root: Node) -> dict[str, str]:
    return {n.attrs["for"]: n.text_content() for n in root.iter() if n.tag == "label" and "for" in n.attrs}


def _element(node: Node, bid: int, labels: dict[str, str]) -> Element:
    disabled = "disabled" in node.attrs
    name = node.attrs.get("name", "")
    named = node.attrs.get("aria-label") or labels.get(node.attrs.get("id", ""), "")
    if node.tag == "a":
        return Element(bid, "link", named or node.text_content(), "a", href=node.attrs.get("href", ""))
    if node.tag == "button" or (node.tag == "input" and node.input_type in ("submit", "button", "reset")):
        label = named or node.text_content() or node.attrs.get("value", "")
        return Element(bid, "button", label, node.tag, name=name, disabled=disabled)
    label = named or node.attrs.get("placeholder", "") or name
    if node.tag == "select":
        opts = dom.options(node)
        chosen = dom.selected_option(node)
        return Element(bid, "combobox", label, "select", name=name,
                       value=chosen.text_content() if chosen is not None else "",
                       options=tuple(o.text_content() for o in opts),
                       option_values=tuple(dom.option_value(o) for o in opts), disabled=disabled)
    if node.tag == "textarea":
        return Element(bid, "textbox", label, "textarea", name=name, value=dom.textarea_value(node), disabled=disabled)
    if node.input_type in ("checkbox", "radio"):
        return Element(bid, node.input_type, label, "input", name=name,
                       value="checked" if "checked" in node.attrs else "", disabled=disabled)
    value = node.attrs.get("value", "")
    if node.input_type == "password":
        value = "•" * len(value)  # shown masked, as a browser does
    return Element(bid, "textbox", label, "input", name=name, value=value, disabled=disabled)
