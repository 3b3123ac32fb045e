"""`text` mode: a small in-process browser over HTTP (cookies, redirects, forms), no rendering engine.

It loads the same pages from the same server a real browser would, keeps the parsed DOM, applies fills and
selections to it, and submits forms the way the HTML standard says (application/x-www-form-urlencoded).
"""

from __future__ import annotations

import http.client
from urllib.parse import urljoin, urlsplit

from verigym.envs.web import dom
from verigym.envs.web.dom import Node
from verigym.envs.web.server import WebServerError
from verigym.envs.web.urls import same_origin

MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 2 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0


def form_encode(pairs: list[tuple[str, str]]) -> str:
    """application/x-www-form-urlencoded exactly as browsers write it (`*-._` kept, space as `+`)."""
    def enc(text: str) -> str:
        out = []
        for byte in text.encode():
            char = chr(byte)
            if char.isascii() and (char.isalnum() or char in "*-._"):
                out.append(char)
            elif char == " ":
                out.append("+")
            else:
                out.append(f"%{byte:02X}")
        return "".join(out)

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


class TextBrowser:
    """Browses `origin` with real HTTP requests; `url` and `root` are the current page."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.cookies: dict[str, str] = {}
        self.url = origin + "/"
        self.root: Node = dom.parse("")
        self.requests = 0

    # --- HTTP --------------------------------------------------------------------------------------
    def request(self, method: str, url: str, body: str | None = None) -> tuple[int, str, str]:
        """One request with this browser's cookies, following redirects; (status, final url, html)."""
        for _ in range(MAX_REDIRECTS + 1):
            status, location, html = self._once(method, url, body)
            if status in (301, 302, 303, 307, 308) and location:
                target = urljoin(url, location)
                if not same_origin(target, self.origin):
                    raise WebServerError(f"the site redirected outside itself, to {target[:100]!r}")
                url = target
                if status in (301, 302, 303):
                    method, body = "GET", None
                continue
            if status >= 500:
                raise WebServerError(f"the site answered {status} to {method} {urlsplit(url).path}: {html[:300]!r}")
            return status, url, html
        raise WebServerError(f"more than {MAX_REDIRECTS} redirects from {url[:100]!r}")

    def _once(self, method: str, url: str, body: str | None) -> tuple[int, str | None, str]:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc, "User-Agent": "verigym-text-browser"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
        self.requests += 1
        try:
            connection.request(method, path, body=body.encode() if body is not None else None, headers=headers)
            response = connection.getresponse()
            data = response.read(MAX_PAGE_BYTES + 1)
            for value in response.headers.get_all("Set-Cookie") or []:
                self._store_cookie(value)
            location = response.getheader("Location")
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise WebServerError(f"the site on {self.origin} did not answer {method} {parts.path}: {exc}") from exc
        finally:
            connection.close()
        if len(data) > MAX_PAGE_BYTES:
            raise WebServerError(f"the page {parts.path} is larger than {MAX_PAGE_BYTES} bytes")
        return status, location, data.decode("utf-8", "replace")

    def _store_cookie(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        expired = any(a.strip().lower() == "max-age=0" for a in attributes)
        if expired:
            self.cookies.pop(name, None)
        elif name:
            self.cookies[name] = value

    # --- navigation --------------------------------------------------------------------------------
    def _load(self, method: str, url: str, body: str | None = None) -> None:
        _, final, html = self.request(method, url, body)
        self.url, self.root = final, dom.parse(html)

    def navigate(self, url: str) -> None:
        """Load `url` (already checked against the site's origin)."""
        self._load("GET", url)

    def follow(self, node: Node) -> None:
        """Follow a link."""
        self._load("GET", urljoin(self.url, node.attrs.get("href", "")).split("#", 1)[0])

    def submit(self, button: Node) -> None:
        """Submit the form `button` belongs to, with `button` as the submitter (no form: nothing happens)."""
        form = button.ancestor("form")
        if form is None or "disabled" in button.attrs or button.attrs.get("type", "submit").lower() != "submit":
            return
        pairs = []
        for node in form.iter():
            name = node.attrs.get("name") if node.tag else None
            if not name or "disabled" in node.attrs:
                continue
            if node.tag == "input":
                kind = node.input_type
                if kind in ("checkbox", "radio"):
                    if "checked" in node.attrs:
                        pairs.append((name, node.attrs.get("value", "on")))
                elif kind in ("submit", "button", "reset", "image"):
                    if node is button and kind == "submit":
                        pairs.append((name, node.attrs.get("value", "")))
                else:
                    pairs.append((name, node.attrs.get("value", "")))
            elif node.tag == "select":
                chosen = dom.selected_option(node)
                if chosen is not None:
                    pairs.append((name, dom.option_value(chosen)))
            elif node.tag == "textarea":
                pairs.append((name, dom.textarea_value(node).replace("\r\n", "\n").replace("\n", "\r\n")))
            elif node.tag == "button" and node is button:
                pairs.append((name, node.attrs.get("value", "")))
        action = urljoin(self.url, form.attrs.get("action") or self.url).split("#", 1)[0]
        body = form_encode(pairs)
        if form.attrs.get("method", "get").lower() == "post":
            self._load("POST", action, body)
        else:
            self._load("GET", action.split("?", 1)[0] + "?" + body)

    # --- form state --------------------------------------------------------------------------------
    @staticmethod
    def fill(node: Node, text: str) -> None:
        """Set a text field's value (the env has already normalised line breaks for the field's kind)."""
        if node.tag == "textarea":
            dom.set_textarea(node, text)
        else:
            node.attrs["value"] = text

    @staticmethod
    def choose(node: Node, index: int) -> None:
        """Select the `index`-th option of a <select>."""
        for i, option in enumerate(dom.options(node)):
            if i == index:
                option.attrs["selected"] = ""
            else:
                option.attrs.pop("selected", None)

    def toggle(self, node: Node) -> None:
        """Click a checkbox (flips) or a radio button (checks it, unchecks its group)."""
        if node.input_type == "checkbox":
            if "checked" in node.attrs:
                node.attrs.pop("checked")
            else:
                node.attrs["checked"] = ""
            return
        group = node.attrs.get("name")
        scope = node.ancestor("form") or self.root
        for other in scope.iter():
            if other.tag == "input" and other.input_type == "radio" and other.attrs.get("name") == group:
                other.attrs.pop("checked", None)
        node.attrs["checked"] = ""
