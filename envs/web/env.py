"""`web-shop-v0` and `web-forum-v0`: a real local web app per episode, BrowserGym actions, state-based reward.

Each episode starts the site on a free 127.0.0.1 port (worker thread, private SQLite file seeded from the
task's seed), signs the agent's account in through the login form, and opens the home page. The agent sends
one action per turn (see `grammar`); the observation is the page as numbered accessibility-tree-like text.
`send_msg_to_user(...)` ends the episode: the database is diffed against its seeded state and the message
checked as a typed answer (see `verifier`). Navigating off the site ends the episode with reward 0. The
server stops at the end of the episode (nothing after the final message can change the outcome) and on
`close()`. A server that stops answering raises `WebServerError`: the runner records an errored episode.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from verigym.envs.base import EnvConfig, TextEnv, TurnResult
from verigym.envs.rubric import Rubric
from verigym.envs.spaces import Message
from verigym.envs.verdict import Verdict
from verigym.envs.web import dom, grammar
from verigym.envs.web.backends import Backend, TextBackend
from verigym.envs.web.client import TextBrowser
from verigym.envs.web.grammar import ActionSyntaxError, WebAction, format_action
from verigym.envs.web.process_reward import StepContext, make_judge
from verigym.envs.web.render import Page, render
from verigym.envs.web.server import SiteServer, WebServerError
from verigym.envs.web.state import Snapshot, snapshot
from verigym.envs.web.task import PlanStep, WebTask
from verigym.envs.web.urls import NavigationRefused, resolve
from verigym.envs.web.verifier import verify

MODES = ("text", "browser")
SYSTEM = """You operate a web browser on the {site} website to complete a task for a user.
Each turn you see the current page as text: every interactive element has a number in brackets, e.g. [12].
Reply with exactly one action on its own line (you may think first):
  click("12")                 click element 12 (links, buttons, checkboxes)
  fill("12", "text")          type text into textbox 12 (replaces its value)
  select_option("12", "M")    choose an option of combobox 12
  goto("/path")               open a page of this site by its path
  go_back()                   return to the previous page
  scroll(0, 500)              scroll (the text already shows the whole page)
  noop()                      do nothing
  send_msg_to_user("answer")  finish: your answer, or a short note that the task is done
Only this site's pages may be visited. Your final message ends the episode; nothing after it counts.
Answer questions with just the value asked for (a number, an amount, a date, or names separated by commas).
You have {turns} turns."""


@dataclass
class WebConfig(EnvConfig):
    """Settings of the web envs.

    `mode`: `text` (in-process HTTP client) or `browser` (Chromium via Playwright). `kinds` limits task kinds
    (empty: all). `partial_weight` weights the dense WebShop-style `partial` component (reported always).
    `step_judge`: `""` (off), `"progress"` (rule-based) or `"module:factory"`, scored with `step_judge_weight`.
    `screenshot`: in browser mode, put a PNG of the page in `info["screenshot"]` each turn.
    """

    max_turns: int = 30
    mode: str = "text"
    kinds: tuple[str, ...] = ()
    partial_weight: float = 0.0
    step_judge: str = ""
    step_judge_weight: float = 0.1
    screenshot: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.kinds, str):
            self.kinds = (self.kinds,)
        self.kinds = tuple(self.kinds)
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {self.max_turns}")


class WebEnv(TextEnv[WebTask]):
    """The shared machinery of the web envs; a site subclass names its app, data and task generator."""

    task_type = WebTask
    config_type = WebConfig
    config: WebConfig
    site_title: ClassVar[str] = ""
    steps_outside_python = True  # every step waits on the browser and the site's server
    volatile_tables: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: WebConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if isinstance(overrides.get("kinds"), list):
            overrides["kinds"] = tuple(overrides["kinds"])
        super().__init__(config, render_mode, **overrides)
        self.server: SiteServer | None = None
        self.backend: Backend | None = None
        self.page: Page | None = None
        self.root: dom.Node | None = None
        self.seeded: Snapshot = {}
        self.plan_index = 0
        self._current_url = ""
        self._navigated = False
        self.history: list[str] = []
        self._chromium: Any = None
        self.judge = make_judge(self.config.step_judge, self.config.step_judge_weight)

    # --- what a site supplies ----------------------------------------------------------------------
    def make_app(self, db_path: str) -> Any:
        """The site's WSGI app over the episode's database (each site subclass supplies it)."""
        raise NotImplementedError(f"{type(self).__name__} must supply make_app()")

    def seed_database(self, task: WebTask) -> Callable[[str], None]:
        """A function that writes the task's seeded data into a fresh database (each site subclass supplies it)."""
        raise NotImplementedError(f"{type(self).__name__} must supply seed_database()")

    # --- TextEnv -----------------------------------------------------------------------------------
    def build_rubric(self) -> Rubric:
        """`success` 1.0 and the dense `partial` at `partial_weight` (see `verifier`)."""
        return Rubric.from_verdict({"success": 1.0, "partial": self.config.partial_weight})

    def on_reset(self) -> None:
        assert self.task is not None
        self._stop()
        self.server = SiteServer(self.make_app, self.seed_database(self.task))
        self.seeded = self.state()
        self.backend = self._open_backend(self.server.origin)
        self.plan_index = 0
        self._navigated = False
        self._login(self.task.username, self.task.password)
        self.backend.navigate(self.server.origin + "/")
        self._refresh()
        self.history = [self._current_url]
        if self.judge is not None:
            self.judge.reset(self.task)

    def _open_backend(self, origin: str) -> Backend:
        if self.config.mode == "text":
            return TextBackend(origin)
        from verigym.envs.web.chromium import ChromiumBackend

        if self._chromium is None or not self._chromium.host.alive:
            self._chromium = ChromiumBackend(origin)
        self._chromium.start(origin)
        return self._chromium

    def _login(self, username: str, password: str) -> None:
        """Sign in through the site's own login form (a real POST with the session's CSRF token) over HTTP,
        then hand the session cookie to the episode's browser."""
        assert self.backend is not None and self.server is not None
        client = TextBrowser(self.server.origin)
        client.navigate(self.server.origin + "/login")
        fields = {n.attrs.get("name"): n for n in dom.interactive(client.root)}
        if "username" not in fields or "password" not in fields:
            raise WebServerError(f"the login page of {self.site_title} has no username/password fields")
        client.fill(fields["username"], username)
        client.fill(fields["password"], password)
        button = next((n for n in dom.interactive(client.root) if n.tag == "button" and n.text_content() == "Log in"), None)
        if button is None:
            raise WebServerError(f"the login page of {self.site_title} has no Log in button")
        client.submit(button)
        if "sid" not in client.cookies or "Log out" not in client.root.text_content():
            raise WebServerError(f"could not sign in as {username!r} on the {self.site_title}")
        self.backend.use_cookies(dict(client.cookies))

    def opening_messages(self, task: WebTask) -> list[Message]:
        system = SYSTEM.format(site=self.site_title, turns=self.config.max_turns)
        assert self.page is not None
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Task: {task.intent}\n\n{self.page.text}"}]

    def on_turn(self, action: str) -> TurnResult:
        assert self.task is not None and self.server is not None
        try:
            parsed = grammar.parse(action)
        except ActionSyntaxError as exc:
            return self._observe(f"Malformed action: {exc}.", malformed=str(exc), action=action)
        if parsed.name == "send_msg_to_user":
            return self._finish(str(parsed.args[0]), None)
        self.server.check()
        try:
            note = self._act(parsed)
        except NavigationRefused as exc:
            return self._finish(None, f"{parsed}: {exc}")
        except _ActionError as exc:
            self._refresh()
            return self._observe(f"Action failed: {exc}", action=action)
        self._refresh()
        return self._observe(note, action=action)

    # --- acting ------------------------------------------------------------------------------------
    def _act(self, action: WebAction) -> str:
        """Apply one non-final action; return a short note for the observation."""
        assert self.backend is not None and self.server is not None and self.page is not None
        name = action.name
        if name == "goto":
            self.backend.navigate(resolve(str(action.args[0]), self._url(), self.server.origin))
            self._navigated = True
            return ""
        if name == "go_back":
            if len(self.history) < 2:
                return "Action failed: there is no previous page."
            self.history.pop()
            self.backend.navigate(self.history[-1])
            self._navigated = False
            return ""
        if name == "scroll":
            self.backend.scroll(float(action.args[0]), float(action.args[1]))
            return ""
        if name == "noop":
            return ""
        element = self.page.element(action.bid)
        if element is None:
            raise _ActionError(f"there is no element [{action.bid}] on this page (elements are numbered 1-{len(self.page.elements)})")
        node = dom.interactive(self.root)[action.bid - 1]  # type: ignore[arg-type]
        if element.disabled:
            raise _ActionError(f"element [{action.bid}] is disabled")
        if name == "click":
            if element.role == "link":
                resolve(element.href, self._url(), self.server.origin)
                self.backend.follow(action.bid, node)
                self._navigated = True
            elif element.role == "button":
                self.backend.submit(action.bid, node)
                self._navigated = True
            elif element.role in ("checkbox", "radio"):
                self.backend.toggle(action.bid, node)
            else:
                return f"Clicked [{action.bid}] {element.role}; use fill() or select_option() to change it."
            return ""
        if name == "fill":
            if element.role != "textbox":
                raise _ActionError(f"element [{action.bid}] is a {element.role}, not a textbox; fill() needs a textbox")
            self.backend.fill(action.bid, node, _field_text(str(action.args[1]), element.tag))
            return ""
        if element.role != "combobox":
            raise _ActionError(f"element [{action.bid}] is a {element.role}, not a combobox; select_option() needs one")
        choice = str(action.args[1])
        index = _option_index(element.options, element.option_values, choice)
        if index is None:
            raise _ActionError(f"combobox [{action.bid}] has no option {choice!r}; options: {', '.join(element.options)}")
        self.backend.choose(action.bid, node, index)
        return ""

    def _url(self) -> str:
        return self._current_url

    def _refresh(self) -> None:
        """Re-read the page; record a navigation in the history (a same-URL load replaces the last entry)."""
        assert self.backend is not None
        url, self.root = self.backend.document()
        self._current_url = url
        self.page = render(self.root, url)
        if self._navigated and url != (self.history[-1] if self.history else None):
            self.history.append(url)
        self._navigated = False

    def _observe(self, note: str, malformed: str | None = None, action: str = "") -> TurnResult:
        assert self.page is not None and self.task is not None
        text = f"{note}\n\n{self.page.text}" if note else self.page.text
        info: dict[str, Any] = {"url": self.page.url}
        if self.config.screenshot and self.backend is not None:
            info["screenshot"] = self.backend.screenshot()
        reward = None
        if self.judge is not None and malformed is None:
            reward = self.judge.score(StepContext(self.task, self.turn, action, self.page.text, self.seeded,
                                                  self.state(), self._cart()))
        return TurnResult([{"role": "user", "content": text}], malformed=malformed, info=info, reward=reward)

    def _finish(self, message: str | None, violation: str | None) -> TurnResult:
        assert self.task is not None and self.server is not None
        self.server.check()
        final = self.state()
        self._stop()
        verdict: Verdict = verify(self.task, self.seeded, final, message, violation)
        if violation is not None:
            text = f"Navigation refused: {violation}. Leaving the site ends the episode with reward 0."
        else:
            text = "Message received; the episode is over."
        return TurnResult([{"role": "user", "content": text}], terminated=True, verdict=verdict,
                          info={"violation": violation} if violation else {})

    # --- state -------------------------------------------------------------------------------------
    def state(self) -> Snapshot:
        """The site's database now, without its volatile bookkeeping tables."""
        assert self.server is not None
        with self.server.app.lock:
            return snapshot(self.server.app.db, self.volatile_tables)

    def _cart(self) -> tuple[dict[str, Any], ...]:
        assert self.server is not None
        with self.server.app.lock:
            tables = {r[0] for r in self.server.app.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "cart_items" not in tables:
                return ()
            return tuple(dict(r) for r in self.server.app.db.execute("SELECT * FROM cart_items"))

    def _stop(self) -> None:
        backend, self.backend = self.backend, None
        server, self.server = self.server, None
        try:
            if backend is not None and backend is self._chromium:
                self._chromium.end()
            elif backend is not None:
                backend.close()
        finally:
            if server is not None:
                server.stop()

    def close(self) -> None:
        """Stop the episode's server and close its browser context (idempotent)."""
        try:
            self._stop()
        finally:
            chromium, self._chromium = self._chromium, None
            if chromium is not None:
                chromium.close()
        super().close()

    # --- the oracle --------------------------------------------------------------------------------
    def oracle_action(self) -> str:
        """The task's scripted plan, one step per turn, each resolved against the current page's elements."""
        assert self.task is not None
        if self.plan_index >= len(self.task.plan):
            raise RuntimeError(f"{self.task.task_id}: the oracle plan is used up")
        step = self.task.plan[self.plan_index]
        self.plan_index += 1
        return self.plan_action(step)

    def plan_action(self, step: PlanStep) -> str:
        """The action text of one plan step on the current page."""
        if step.op in ("send_msg_to_user", "goto"):
            return format_action(step.op, step.value)
        if step.op == "go_back":
            return format_action("go_back")
        bid = self._find(step.target)
        return format_action(step.op, bid, step.value) if step.value or step.op == "fill" else format_action(step.op, bid)

    def _find(self, target: str) -> int:
        assert self.page is not None
        kind, _, wanted = target.partition(":")
        for e in self.page.elements:
            if (kind == "name" and e.name == wanted) or (kind == "href" and e.href == wanted) or (kind == e.role and e.label == wanted):
                return e.bid
        raise RuntimeError(f"oracle: no element {target!r} on {self.page.url} ({self.page.title})")

    def sample_action(self, rng: random.Random) -> str:
        """A well-formed uninformed action on the current page (the `random` baseline)."""
        if self.page is None or not self.page.elements or rng.random() < 0.1:
            return format_action("send_msg_to_user", str(rng.randint(0, 20)))
        element = rng.choice(self.page.elements)
        if element.role == "textbox":
            return format_action("fill", element.bid, rng.choice(["a", "shoe", "42", "test"]))
        if element.role == "combobox" and element.options:
            return format_action("select_option", element.bid, rng.choice(element.options))
        return format_action("click", element.bid)


class _ActionError(Exception):
    """A well-formed action that cannot apply to this page (shown to the agent)."""


def _field_text(text: str, tag: str) -> str:
    """What typing `text` into the field leaves in it: line breaks become LF in a textarea and spaces in a
    single-line input (as Chromium does on insert), decided here so both modes agree."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if tag == "textarea" else text.replace("\n", " ")


def _option_index(texts: tuple[str, ...], values: tuple[str, ...], choice: str) -> int | None:
    for options in (texts, values):
        if choice in options:
            return options.index(choice)
    folded = choice.strip().casefold()
    return next((i for i, t in enumerate(texts) if t.strip().casefold() == folded), None)


class WebShopEnv(WebEnv):
    """`web-shop-v0`: purchases with attribute/option/price goals, order look-ups, account and order changes."""

    env_id = "web-shop-v0"
    site_title = "shop"
    volatile_tables = frozenset({"sessions", "cart_items"})

    def generate_task(self, seed: int) -> WebTask:
        from verigym.envs.web.shop.tasks import generate_task

        return generate_task(seed, self.config.kinds)

    def make_app(self, db_path: str) -> Any:
        from verigym.envs.web.shop.app import ShopApp

        return ShopApp(db_path)

    def seed_database(self, task: WebTask) -> Callable[[str], None]:
        from verigym.envs.web.shop import data

        content = data.generate(task.seed)
        return lambda path: data.seed_database(content, path)


class WebForumEnv(WebEnv):
    """`web-forum-v0`: replies, new threads, settings, moderation and admin changes, typed look-ups."""

    env_id = "web-forum-v0"
    site_title = "forum"
    volatile_tables = frozenset({"sessions"})

    def generate_task(self, seed: int) -> WebTask:
        from verigym.envs.web.forum.tasks import generate_task

        return generate_task(seed, self.config.kinds)

    def make_app(self, db_path: str) -> Any:
        from verigym.envs.web.forum.app import ForumApp

        return ForumApp(db_path)

    def seed_database(self, task: WebTask) -> Callable[[str], None]:
        from verigym.envs.web.forum import data

        content = data.generate(task.seed)
        return lambda path: data.seed_database(content, path)
