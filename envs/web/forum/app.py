"""The forum web application (WSGI, server-rendered HTML over SQLite)."""

from __future__ import annotations

import math

from verigym.envs.web.forum.data import TIMEZONES, TODAY
from verigym.envs.web.framework import (App, HTTPError, Request, Response, document, esc, pager, post_button, select,
                                        table, textbox)

PAGE_SIZE = 10
ROLES = ("member", "moderator", "admin")


class ForumApp(App):
    """Boards, threads and replies, member profiles, personal settings, moderation and an admin panel."""

    site_name = "Forum"

    def __init__(self, db_path: str) -> None:
        super().__init__(db_path)
        self.route("GET", "/", self.home)
        self.route("GET", r"/b/(?P<slug>[a-z]+)", self.board)
        self.route("POST", r"/b/(?P<slug>[a-z]+)/new", self.new_thread, login=True)
        self.route("GET", r"/t/(?P<tid>\d+)", self.thread)
        self.route("POST", r"/t/(?P<tid>\d+)/reply", self.reply, login=True)
        self.route("POST", r"/posts/(?P<pid>\d+)/hide", self.hide, login=True)
        self.route("GET", "/members", self.members)
        self.route("GET", r"/u/(?P<name>[a-z0-9]+)", self.profile)
        self.route("GET", "/search", self.search)
        self.route("GET", "/settings", self.settings, login=True)
        self.route("POST", "/settings", self.save_settings, login=True)
        self.route("GET", "/admin", self.admin, role="admin")
        self.route("POST", r"/admin/users/(?P<uid>\d+)/role", self.set_role, role="admin")
        self.route("POST", "/admin/settings", self.save_site_settings, role="admin")
        self.route("GET", "/admin/debug", self.debug, role="admin")

    def layout(self, request: Request, title: str, body: str) -> str:
        links = ['<a href="/">Home</a>', '<a href="/members">Members</a>', '<a href="/search">Search</a>']
        if request.user is not None:
            links.append('<a href="/settings">Settings</a>')
            if request.user["role"] == "admin":
                links.append('<a href="/admin">Admin</a>')
            links += [f"<span>Signed in as {esc(request.user['username'])}</span>", post_button(request.csrf, "/logout", "Log out")]
        else:
            links.append('<a href="/login">Log in</a>')
        return document(f"{title} - Forum", " ".join(links), body)

    def page(self, request: Request, title: str, body: str) -> Response:
        return Response(self.layout(request, title, body))

    def _setting(self, key: str) -> str:
        row = self.db.execute("SELECT value FROM site_settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    # --- reading -----------------------------------------------------------------------------------
    def home(self, request: Request) -> Response:
        boards = self.db.execute("SELECT b.*, (SELECT COUNT(*) FROM threads t WHERE t.board_id = b.id) AS n FROM boards b ORDER BY id").fetchall()
        note = self._setting("announcement")
        body = (f"<p>Announcement: {esc(note)}</p>" if note else "") + "<h1>Boards</h1>" + table(
            ["Board", "About", "Threads"], [[f'<a href="/b/{b["slug"]}">{esc(b["title"])}</a>', esc(b["description"]), str(b["n"])]
                                            for b in boards])
        return self.page(request, "Boards", body)

    def _board(self, slug: str) -> object:
        row = self.db.execute("SELECT * FROM boards WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            raise HTTPError(404, f"There is no board {slug!r}.")
        return row

    def board(self, request: Request) -> Response:
        b = self._board(request.params["slug"])
        threads = self.db.execute(
            "SELECT t.*, u.username, (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id AND p.status = 'visible') - 1 AS replies "
            "FROM threads t JOIN users u ON u.id = t.author_id WHERE board_id = ? ORDER BY t.created_on DESC, t.id DESC", (b["id"],)).fetchall()  # type: ignore[index]
        mods = [r[0] for r in self.db.execute("SELECT u.username FROM board_moderators m JOIN users u ON u.id = m.user_id "
                                              "WHERE m.board_id = ? ORDER BY u.username", (b["id"],))]  # type: ignore[index]
        pages = max(1, math.ceil(len(threads) / PAGE_SIZE))
        page = min(request.int_arg("page"), pages)
        shown = threads[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        body = (f"<h1>{esc(b['title'])}</h1><p>{esc(b['description'])}</p><p>Moderators: {esc(', '.join(mods))}</p>"  # type: ignore[index]
                + table(["Thread", "Started by", "Replies", "Started on"], [
                    [f'<a href="/t/{t["id"]}">{esc(t["title"])}</a>', f'<a href="/u/{t["username"]}">{esc(t["username"])}</a>',
                     str(t["replies"]), t["created_on"]] for t in shown])
                + pager(f"/b/{b['slug']}", page, pages))  # type: ignore[index]
        if request.user is not None:
            body += (f'<h2>Start a new thread</h2><form method="post" action="/b/{b["slug"]}/new" autocomplete="off">'  # type: ignore[index]
                     f"{self.csrf_input(request)}<p>{textbox('title', 'Title')}</p>"
                     '<p><label for="body">Message</label> <textarea id="body" name="body"></textarea></p>'
                     '<p><button type="submit">Create thread</button></p></form>')
        return self.page(request, str(b["title"]), body)  # type: ignore[index]

    def _can_moderate(self, request: Request, board_id: int) -> bool:
        if request.user is None:
            return False
        if request.user["role"] == "admin":
            return True
        return self.db.execute("SELECT 1 FROM board_moderators WHERE board_id = ? AND user_id = ?",
                               (board_id, request.user["id"])).fetchone() is not None

    def thread(self, request: Request) -> Response:
        t = self.db.execute("SELECT t.*, b.slug, b.title AS board_title FROM threads t JOIN boards b ON b.id = t.board_id "
                            "WHERE t.id = ?", (int(request.params["tid"]),)).fetchone()
        if t is None:
            raise HTTPError(404, f"There is no thread {request.params['tid']}.")
        posts = self.db.execute("SELECT p.*, u.username FROM posts p JOIN users u ON u.id = p.author_id WHERE thread_id = ? "
                                "ORDER BY p.id", (t["id"],)).fetchall()
        pages = max(1, math.ceil(len(posts) / PAGE_SIZE))
        page = min(request.int_arg("page"), pages)
        moderator = self._can_moderate(request, t["board_id"])
        items = []
        for p in posts[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
            text = esc(p["body"]) if p["status"] == "visible" else "[hidden by a moderator]"
            item = f'<li>Post #{p["id"]} by <a href="/u/{p["username"]}">{esc(p["username"])}</a> on {p["created_on"]}: {text}'
            if moderator and p["status"] == "visible":
                item += post_button(request.csrf, f"/posts/{p['id']}/hide", f"Hide post #{p['id']}")
            items.append(item + "</li>")
        body = (f'<p><a href="/b/{t["slug"]}">{esc(t["board_title"])}</a></p><h1>{esc(t["title"])}</h1><ul>{"".join(items)}</ul>'
                + pager(f"/t/{t['id']}", page, pages))
        if request.user is not None:
            body += (f'<h2>Reply</h2><form method="post" action="/t/{t["id"]}/reply" autocomplete="off">{self.csrf_input(request)}'
                     '<p><label for="body">Message</label> <textarea id="body" name="body"></textarea></p>'
                     '<p><button type="submit">Post reply</button></p></form>')
        return self.page(request, str(t["title"]), body)

    def members(self, request: Request) -> Response:
        users = self.db.execute("SELECT * FROM users ORDER BY username").fetchall()
        return self.page(request, "Members", "<h1>Members</h1>" + table(["Member", "Role", "Joined"], [
            [f'<a href="/u/{u["username"]}">{esc(u["username"])}</a>', u["role"], u["joined_on"]] for u in users]))

    def profile(self, request: Request) -> Response:
        u = self.db.execute("SELECT * FROM users WHERE username = ?", (request.params["name"],)).fetchone()
        if u is None:
            raise HTTPError(404, f"There is no member {request.params['name']!r}.")
        n = self.db.execute("SELECT COUNT(*) FROM posts WHERE author_id = ? AND status = 'visible'", (u["id"],)).fetchone()[0]
        body = (f"<h1>{esc(u['username'])}</h1><p>Role: {u['role']}</p><p>Joined on: {u['joined_on']}</p><p>Posts: {n}</p>"
                + (f"<p>Signature: {esc(u['signature'])}</p>" if u["signature"] else ""))
        return self.page(request, str(u["username"]), body)

    def search(self, request: Request) -> Response:
        q = request.arg("q")
        rows = []
        if q:
            rows = [r for r in self.db.execute(
                "SELECT p.*, u.username, t.title FROM posts p JOIN users u ON u.id = p.author_id JOIN threads t ON t.id = p.thread_id "
                "WHERE p.status = 'visible' ORDER BY p.id").fetchall() if q.casefold() in (r["body"] + " " + r["title"]).casefold()]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page = min(request.int_arg("page"), pages)
        body = (f'<form method="get" action="/search" autocomplete="off"><p>{textbox("q", "Search posts", q)} '
                f'<button type="submit">Search</button></p></form><h1>{len(rows)} results</h1>')
        body += table(["Thread", "Post by", "On"], [[f'<a href="/t/{r["thread_id"]}">{esc(r["title"])}</a>', esc(r["username"]), r["created_on"]]
                                                   for r in rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]])
        return self.page(request, "Search", body + pager("/search", page, pages, {"q": q}))

    # --- writing -----------------------------------------------------------------------------------
    def _text(self, request: Request, name: str, limit: int) -> str:
        text = " ".join(request.field(name).split())
        if not text or len(text) > limit:
            raise HTTPError(400, f"The {name} must be 1 to {limit} characters.")
        return text

    def new_thread(self, request: Request) -> Response:
        b = self._board(request.params["slug"])
        title, body = self._text(request, "title", 120), self._text(request, "body", 4000)
        cur = self.db.execute("INSERT INTO threads (board_id, author_id, title, created_on) VALUES (?, ?, ?, ?)",
                              (b["id"], request.user["id"], title, TODAY))  # type: ignore[index]
        self.db.execute("INSERT INTO posts (thread_id, author_id, body, created_on, status) VALUES (?, ?, ?, ?, 'visible')",
                        (cur.lastrowid, request.user["id"], body, TODAY))  # type: ignore[index]
        return Response(status=303, location=f"/t/{cur.lastrowid}")

    def reply(self, request: Request) -> Response:
        tid = int(request.params["tid"])
        if self.db.execute("SELECT 1 FROM threads WHERE id = ?", (tid,)).fetchone() is None:
            raise HTTPError(404, f"There is no thread {tid}.")
        body = self._text(request, "body", 4000)
        self.db.execute("INSERT INTO posts (thread_id, author_id, body, created_on, status) VALUES (?, ?, ?, ?, 'visible')",
                        (tid, request.user["id"], body, TODAY))  # type: ignore[index]
        n = self.db.execute("SELECT COUNT(*) FROM posts WHERE thread_id = ?", (tid,)).fetchone()[0]
        return Response(status=303, location=f"/t/{tid}?page={math.ceil(n / PAGE_SIZE)}")

    def hide(self, request: Request) -> Response:
        p = self.db.execute("SELECT p.*, t.board_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = ?",
                            (int(request.params["pid"]),)).fetchone()
        if p is None:
            raise HTTPError(404, f"There is no post {request.params['pid']}.")
        if not self._can_moderate(request, p["board_id"]):
            raise HTTPError(403, "Only this board's moderators can hide posts.")
        self.db.execute("UPDATE posts SET status = 'hidden' WHERE id = ?", (p["id"],))
        index = self.db.execute("SELECT COUNT(*) FROM posts WHERE thread_id = ? AND id <= ?", (p["thread_id"], p["id"])).fetchone()[0]
        return Response(status=303, location=f"/t/{p['thread_id']}?page={math.ceil(index / PAGE_SIZE)}")

    def settings(self, request: Request) -> Response:
        u = request.user
        checked = " checked" if u["email_notifications"] else ""  # type: ignore[index]
        note = "<p>Settings saved.</p>" if request.arg("saved") == "1" else ""
        body = (f'<h1>Settings</h1>{note}<form method="post" action="/settings" autocomplete="off">{self.csrf_input(request)}'
                f"<p>{textbox('signature', 'Signature', u['signature'])}</p>"  # type: ignore[index]
                f'<p><input type="checkbox" id="email_notifications" name="email_notifications" value="1"{checked}> '
                '<label for="email_notifications">Email me about replies</label></p>'
                f"<p>{select('timezone', 'Time zone', [(z, z) for z in TIMEZONES], u['timezone'])}</p>"  # type: ignore[index]
                '<p><button type="submit">Save settings</button></p></form>')
        return self.page(request, "Settings", body)

    def save_settings(self, request: Request) -> Response:
        signature, zone = " ".join(request.field("signature").split()), request.field("timezone")
        if len(signature) > 200 or zone not in TIMEZONES:
            raise HTTPError(400, "The signature must be at most 200 characters and the time zone one of the listed ones.")
        notify = 1 if request.form.get("email_notifications") == "1" else 0
        self.db.execute("UPDATE users SET signature = ?, email_notifications = ?, timezone = ? WHERE id = ?",
                        (signature, notify, zone, request.user["id"]))  # type: ignore[index]
        return Response(status=303, location="/settings?saved=1")

    # --- admin -------------------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        users = self.db.execute("SELECT * FROM users ORDER BY username").fetchall()
        rows = []
        for u in users:
            form = (f'<form method="post" action="/admin/users/{u["id"]}/role" autocomplete="off">{self.csrf_input(request)}'
                    + select(f"role_{u['id']}", f"Role of {u['username']}", [(r, r) for r in ROLES], u["role"])
                    + f' <button type="submit">Save role for {esc(u["username"])}</button></form>')
            rows.append([esc(u["username"]), form])
        body = ("<h1>Admin</h1><h2>Members</h2>" + table(["Member", "Role"], rows)
                + f'<h2>Site settings</h2><form method="post" action="/admin/settings" autocomplete="off">{self.csrf_input(request)}'
                + f"<p>{textbox('announcement', 'Announcement', self._setting('announcement'))}</p>"
                + f"<p>{select('registration', 'Registration', [('open', 'open'), ('closed', 'closed')], self._setting('registration'))}</p>"
                + '<p><button type="submit">Save site settings</button></p></form>')
        return self.page(request, "Admin", body)

    def set_role(self, request: Request) -> Response:
        uid = int(request.params["uid"])
        role = request.field(f"role_{uid}")
        if role not in ROLES or self.db.execute("SELECT 1 FROM users WHERE id = ?", (uid,)).fetchone() is None:
            raise HTTPError(400, "Unknown member or role.")
        self.db.execute("UPDATE users SET role = ? WHERE id = ?", (role, uid))
        return Response(status=303, location="/admin")

    def save_site_settings(self, request: Request) -> Response:
        note, registration = " ".join(request.field("announcement").split()), request.field("registration")
        if len(note) > 200 or registration not in ("open", "closed"):
            raise HTTPError(400, "The announcement must be at most 200 characters; registration open or closed.")
        self.db.execute("UPDATE site_settings SET value = ? WHERE key = 'announcement'", (note,))
        self.db.execute("UPDATE site_settings SET value = ? WHERE key = 'registration'", (registration,))
        return Response(status=303, location="/admin")

    def debug(self, request: Request) -> Response:
        users = self.db.execute("SELECT id, username, role FROM users").fetchall()
        return self.page(request, "Debug", "<h1>Debug</h1>" + table(["id", "username", "role"],
                                                                     [[str(u[0]), esc(u[1]), esc(u[2])] for u in users]))
