"""The two ways an episode drives its site, behind one small interface the env uses.

`TextBackend` wraps the in-process `TextBrowser`; `ChromiumBackend` (module `chromium`) drives a real page.
Both address elements by bid (1-based document order of `dom.INTERACTIVE_CSS`) and report the current page
as (url, DOM tree), which the env renders with the one shared renderer.
"""

from __future__ import annotations

from typing import Protocol

from verigym.envs.web.client import TextBrowser
from verigym.envs.web.dom import Node


class Backend(Protocol):
    """What the env needs from a browser."""

    def use_cookies(self, cookies: dict[str, str]) -> None: ...
    def document(self) -> tuple[str, Node]: ...
    def navigate(self, url: str) -> None: ...
    def follow(self, bid: int, node: Node) -> None: ...
    def submit(self, bid: int, node: Node) -> None: ...
    def fill(self, bid: int, node: Node, text: str) -> None: ...
    def choose(self, bid: int, node: Node, index: int) -> None: ...
    def toggle(self, bid: int, node: Node) -> None: ...
    def scroll(self, dx: float, dy: float) -> None: ...
    def screenshot(self) -> bytes | None: ...
    def close(self) -> None: ...


class TextBackend:
    """`text` mode: HTTP requests from this process, DOM kept in memory."""

    def __init__(self, origin: str) -> None:
        self.browser = TextBrowser(origin)

    def use_cookies(self, cookies: dict[str, str]) -> None:
        self.browser.cookies = dict(cookies)

    def document(self) -> tuple[str, Node]:
        return self.browser.url, self.browser.root

    def navigate(self, url: str) -> None:
        self.browser.navigate(url)

    def follow(self, bid: int, node: Node) -> None:
        self.browser.follow(node)

    def submit(self, bid: int, node: Node) -> None:
        self.browser.submit(node)

    def fill(self, bid: int, node: Node, text: str) -> None:
        self.browser.fill(node, text)

    def choose(self, bid: int, node: Node, index: int) -> None:
        self.browser.choose(node, index)

    def toggle(self, bid: int, node: Node) -> None:
        self.browser.toggle(node)

    def scroll(self, dx: float, dy: float) -> None:
        pass  # the observation always shows the whole page

    def screenshot(self) -> bytes | None:
        return None

    def close(self) -> None:
        pass
