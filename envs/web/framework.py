"""A tiny WSGI toolkit for the bundled sites: requests, routing, real sessions with CSRF tokens, HTML pages.

Only the standard library. Every app keeps its state in one SQLite file (the episode's private temp dir);
requests are served one at a time, and the env reads the database under the same lock.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 64 * 1024
Handler = Callable[["Request"], "Response"]


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too)."""
    return html.escape(str(value), quote=True)


def password_hash(username: str, password: str) -> str:
    """The stored password digest (salted with the username; the sites are local toys, not vaults)."""
    return hashlib.sha256(f"verigym-web:{username}:{password}".encode()).hexdigest()


def money(cents: int) -> str:
    """`1234` -> `$12.34`."""
    return f"${cents // 100:,}.{cents % 100:02d}"


class HTTPError(Exception):
    """Raised by a handler to answer with an error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    """An HTML page, or a redirect when `location` is set."""

    body: str = ""
    status: int = 200
    location: str | None = None
    cookies: list[str] = field(default_factory=list)


@dataclass
class Request:
    """One parsed request plus the session it belongs to (filled in by `App`)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    sid: str = ""
    csrf: str = ""
    user: sqlite3.Row | None = None

    def arg(self, name: str, default: str = "") -> str:
        """A query-string argument (stripped)."""
        return self.query.get(name, default).strip()

    def field(self, name: str) -> str:
        """A form field, stripped, CRLF normalised to LF."""
        return self.form.get(name, "").replace("\r\n", "\n").strip()

    def int_arg(self, name: str, default: int = 1) -> int:
        """A positive integer query argument (bad input falls back to `default`)."""
        value = self.arg(name)
        return int(value) if value.isdigit() and 0 < int(value) < 10_000 else default


class App:
    """Base of the sites: routing, sessions (cookie `sid`, one CSRF token per session), logins, roles.

    Subclasses call `route(method, pattern, handler)` and implement `layout(request, title, body)`.
    """

    site_name = "site"

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA synchronous = OFF")  # an episode's database never outlives its process
        self.db.execute("PRAGMA journal_mode = MEMORY")
        self._routes: list[tuple[str, re.Pattern[str], Handler, str | None]] = []
        self.route("GET", "/login", self.login_form)
        self.route("POST", "/login", self.login)
        self.route("POST", "/logout", self.logout, login=True)

    # --- routing -----------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, *, login: bool = False, role: str | None = None) -> None:
        """Serve `method pattern` (a regex with named groups) with `handler`; `role` implies login."""
        need = role or ("" if login else None)
        self._routes.append((method, re.compile(f"^{pattern}$"), handler, need))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            response = self._handle(environ)
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        headers += [("Set-Cookie", c) for c in response.cookies]
        if response.location is not None:
            headers.append(("Location", response.location))
        body = response.body.encode()
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [body]

    def _handle(self, environ: dict[str, Any]) -> Response:
        try:
            request = self._parse(environ)
        except HTTPError as exc:
            return Response(f"<h1>{exc.status}</h1><p>{esc(exc.message)}</p>", status=exc.status)
        fresh_cookie = self._load_session(request)
        try:
            response = self._dispatch(request)
        except HTTPError as exc:
            response = Response(self.error_page(request, exc.status, exc.message), status=exc.status)
        if fresh_cookie and not any(c.startswith("sid=") for c in response.cookies):
            response.cookies.append(fresh_cookie)
        return response

    def _dispatch(self, request: Request) -> Response:
        allowed = []
        for method, pattern, handler, need in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            allowed.append(method)
            if method != request.method:
                continue
            request.params = match.groupdict()
            if need is not None and request.user is None:
                raise HTTPError(401, "Please log in first.")
            if need and request.user["role"] != need and request.user["role"] != "admin":
                raise HTTPError(403, f"This page needs the {need} role.")
            if method == "POST" and not secrets.compare_digest(request.form.get("csrf", ""), request.csrf):
                raise HTTPError(403, "The form's security token is missing or wrong; reload the page and retry.")
            return handler(request)
        if allowed:
            raise HTTPError(405, f"{request.method} is not allowed here.")
        raise HTTPError(404, f"No page at {request.path}.")

    @staticmethod
    def _parse(environ: dict[str, Any]) -> Request:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        form: dict[str, str] = {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY_BYTES:
                raise HTTPError(413, "The form is too large.")
            raw = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
            form = dict(parse_qsl(raw, keep_blank_values=True))
        cookies = {}
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                cookies[name] = value
        path = environ.get("PATH_INFO", "/") or "/"
        return Request(method, path, query, form, cookies)

    # --- sessions and logins -----------------------------------------------------------------------
    def _load_session(self, request: Request) -> str | None:
        """Attach the request's session (creating an anonymous one); return a Set-Cookie for a new one."""
        sid = request.cookies.get("sid", "")
        row = self.db.execute("SELECT sid, user_id, csrf FROM sessions WHERE sid = ?", (sid,)).fetchone() if sid else None
        cookie = None
        if row is None:
            sid, csrf = secrets.token_hex(16), secrets.token_hex(16)
            self.db.execute("INSERT INTO sessions (sid, user_id, csrf) VALUES (?, NULL, ?)", (sid, csrf))
            cookie = _session_cookie(sid)
            user_id = None
        else:
            csrf, user_id = row["csrf"], row["user_id"]
        request.sid, request.csrf = sid, csrf
        if user_id is not None:
            request.user = self.db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return cookie

    def csrf_input(self, request: Request) -> str:
        """The hidden CSRF field every POST form carries."""
        return f'<input type="hidden" name="csrf" value="{esc(request.csrf)}">'

    def login_form(self, request: Request, message: str = "") -> Response:
        note = f"<p>{esc(message)}</p>" if message else ""
        body = (
            f"<h1>Log in</h1>{note}<form method=\"post\" action=\"/login\" autocomplete=\"off\">{self.csrf_input(request)}"
            '<p><label for="username">Username</label> <input type="text" id="username" name="username"></p>'
            '<p><label for="password">Password</label> <input type="password" id="password" name="password"></p>'
            "<p><button type=\"submit\">Log in</button></p></form>"
        )
        return Response(self.layout(request, "Log in", body))

    def login(self, request: Request) -> Response:
        username, password = request.field("username"), request.form.get("password", "")
        user = self.db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if user is None or not secrets.compare_digest(user["password_hash"], password_hash(username, password)):
            return self.login_form(request, "Wrong username or password.")
        sid, csrf = secrets.token_hex(16), secrets.token_hex(16)  # rotate the session on login
        self.db.execute("DELETE FROM sessions WHERE sid = ?", (request.sid,))
        self.db.execute("INSERT INTO sessions (sid, user_id, csrf) VALUES (?, ?, ?)", (sid, user["id"], csrf))
        return Response(location="/", status=303, cookies=[_session_cookie(sid)])

    def logout(self, request: Request) -> Response:
        self.db.execute("DELETE FROM sessions WHERE sid = ?", (request.sid,))
        return Response(location="/", status=303, cookies=["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])

    # --- pages -------------------------------------------------------------------------------------
    def layout(self, request: Request, title: str, body: str) -> str:
        """The whole HTML page around `body`."""
        raise NotImplementedError

    def error_page(self, request: Request, status: int, message: str) -> str:
        """The page shown with an error status."""
        phrase = HTTPStatus(status).phrase
        return self.layout(request, f"{status} {phrase}", f"<h1>{status} {esc(phrase)}</h1><p>{esc(message)}</p>")


def document(title: str, nav: str, body: str) -> str:
    """A complete, well-formed HTML document (explicit tbody, no scripts, no validation attributes)."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title></head>'
        f"<body><nav>{nav}</nav><main>{body}</main></body></html>"
    )


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A table of pre-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pager(base: str, page: int, pages: int, extra: dict[str, str] | None = None) -> str:
    """Previous/next links for paginated lists (`base` is a path; `extra` query args are kept)."""
    from urllib.parse import urlencode

    def link(n: int, text: str) -> str:
        args = {k: v for k, v in (extra or {}).items() if v}
        args["page"] = str(n)
        return f'<a href="{esc(base + "?" + urlencode(args))}">{text}</a>'

    parts = [f"Page {page} of {max(pages, 1)}"]
    if page > 1:
        parts.append(link(page - 1, "Previous page"))
    if page < pages:
        parts.append(link(page + 1, "Next page"))
    return "<p>" + " ".join(parts) + "</p>"


def select(name: str, label: str, options: list[tuple[str, str]], selected: str = "") -> str:
    """A labelled <select> (options are (value, text))."""
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>' for v, t in options
    )
    return f'<label for="{esc(name)}">{esc(label)}</label> <select id="{esc(name)}" name="{esc(name)}">{opts}</select>'


def textbox(name: str, label: str, value: str = "", kind: str = "text") -> str:
    """A labelled single-line input."""
    return (f'<label for="{esc(name)}">{esc(label)}</label> '
            f'<input type="{kind}" id="{esc(name)}" name="{esc(name)}" value="{esc(value)}">')


def post_button(request_csrf: str, action: str, text: str, hidden: dict[str, str] | None = None) -> str:
    """A one-button POST form."""
    fields = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in (hidden or {}).items())
    return (f'<form method="post" action="{esc(action)}" autocomplete="off">'
            f'<input type="hidden" name="csrf" value="{esc(request_csrf)}">{fields}<button type="submit">{esc(text)}</button></form>')


def _session_cookie(sid: str) -> str:
    return f"sid={sid}; Path=/; HttpOnly; SameSite=Lax"
