"""`browser` mode: Debian's Chromium driven by Playwright (`executable_path`; no browser is ever downloaded).

One headless Chromium per process, owned by a dedicated thread (Playwright's sync API is bound to the thread
that started it), shared by every episode; each episode gets its own browser context (cookies, storage) and
page. Every request the page makes to anything but the episode's own origin is aborted. The observation is
rendered from Chromium's live DOM (form values copied into attributes first) with the same renderer `text`
mode uses, so both modes show the same text for the same page.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import queue
import shutil
import threading
from collections.abc import Callable
from typing import Any

from verigym.envs.web import dom
from verigym.envs.web.dom import INTERACTIVE_CSS, Node
from verigym.envs.web.server import WebServerError
from verigym.envs.web.urls import same_origin

CALL_TIMEOUT_S = 30.0
ACTION_TIMEOUT_MS = 10_000
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
LAUNCH_ARGS = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-extensions",
               "--disable-background-networking", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               "--no-proxy-server", "--disable-gpu")
#: Copies live form state into attributes and returns the serialised DOM (what the user typed and chose included).
SYNC_FORM_STATE = """() => {
  for (const el of document.querySelectorAll('input, textarea, select')) {
    if (el.tagName === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio')) {
      if (el.checked) el.setAttribute('checked', ''); else el.removeAttribute('checked');
    } else if (el.tagName === 'INPUT') {
      el.setAttribute('value', el.value);
    } else if (el.tagName === 'TEXTAREA') {
      el.textContent = el.value;
    } else {
      for (const o of el.options) { if (o.selected) o.setAttribute('selected', ''); else o.removeAttribute('selected'); }
    }
  }
  return document.documentElement.outerHTML;
}"""


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing or does not start; the message says how to install them."""


def chromium_path() -> str:
    """The Chromium binary: `$VERIGYM_CHROMIUM`, else Debian's package."""
    explicit = os.environ.get("VERIGYM_CHROMIUM")
    if explicit:
        return explicit
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    found = shutil.which("chromium")
    if found:
        return found
    raise BrowserUnavailable("browser mode needs Chromium: `apt-get install -y chromium` (or set VERIGYM_CHROMIUM)")


class ChromiumHost:
    """A headless Chromium owned by one thread; `call(fn)` runs `fn(browser)` there and returns its result."""

    def __init__(self, executable: str | None = None) -> None:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            raise BrowserUnavailable("browser mode needs Playwright: pip install 'playwright==1.65.2' "
                                     "(never run `playwright install`; Debian's chromium is used)") from exc
        self.executable = executable or chromium_path()
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="verigym-chromium", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise BrowserUnavailable(f"Chromium ({self.executable}) did not start within 60 s")
        if self._error is not None:
            raise BrowserUnavailable(f"Chromium ({self.executable}) failed to start: {self._error}") from self._error

    def _run(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=self.executable, headless=True, args=list(LAUNCH_ARGS))
                self.version = browser.version
                self._ready.set()
                while True:
                    job = self._jobs.get()
                    if job is None:
                        break
                    fn, future = job
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn(browser))
                        except BaseException as exc:  # noqa: BLE001 - handed to the caller
                            future.set_exception(exc)
                browser.close()
        except BaseException as exc:  # noqa: BLE001 - reported by __init__ or by the next call
            self._error = exc
            self._ready.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._error is None

    def call(self, fn: Callable[[Any], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run `fn(browser)` on the browser thread; Playwright errors become `WebServerError`."""
        if not self.alive:
            raise WebServerError(f"the shared Chromium is not running ({self._error or 'stopped'})")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise WebServerError(f"Chromium did not finish an action within {timeout:.0f} s") from None
        except Exception as exc:
            if type(exc).__module__.startswith("playwright"):
                raise WebServerError(f"Chromium: {str(exc).splitlines()[0][:300]}") from exc
            raise

    def close(self) -> None:
        """Close the browser and stop its thread."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(30)


_shared: ChromiumHost | None = None
_shared_lock = threading.Lock()


def shared_host() -> ChromiumHost:
    """This process's Chromium, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = ChromiumHost()
        return _shared


def close_shared_host() -> None:
    """Close this process's Chromium if it runs (also done at exit)."""
    global _shared
    with _shared_lock:
        host, _shared = _shared, None
    if host is not None:
        host.close()


atexit.register(close_shared_host)


class ChromiumBackend:
    """A browser context and page on the shared Chromium, for one env: `start(origin)` begins an episode (cookies
    cleared, requests allowed to `origin` only), `end()` blanks the page, `close()` drops the context. Keeping
    the context across episodes saves starting a renderer process per episode."""

    def __init__(self, origin: str, host: ChromiumHost | None = None) -> None:
        self.origin = origin
        self.host = host or shared_host()

        def open_page(browser: Any) -> tuple[Any, Any]:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.route("**/*", self._route)
            return context, context.new_page()

        self.context, self.page = self.host.call(open_page)

    def _route(self, route: Any) -> None:
        if same_origin(route.request.url, self.origin):
            route.continue_()
        else:
            route.abort()

    def start(self, origin: str) -> None:
        """Begin an episode on `origin`: no cookies, a blank page."""
        self.origin = origin

        def reset(_browser: Any) -> None:
            self.context.clear_cookies()
            self.page.goto("about:blank")

        self.host.call(reset)

    def end(self) -> None:
        """End the episode: blank page, no cookies (the context stays for the next episode)."""
        if self.context is not None:
            try:
                self.start("http://0.0.0.0:0")
            except WebServerError:
                pass  # the browser is gone; close() has nothing left to do either

    def _do(self, fn: Callable[[Any], Any]) -> Any:
        return self.host.call(lambda _browser: fn(self.page))

    def _element(self, page: Any, bid: int) -> Any:
        return page.locator(INTERACTIVE_CSS).nth(bid - 1)

    def use_cookies(self, cookies: dict[str, str]) -> None:
        jar = [{"name": k, "value": v, "url": self.origin + "/", "httpOnly": True, "sameSite": "Lax"} for k, v in cookies.items()]
        self.host.call(lambda _browser: self.context.add_cookies(jar))

    def document(self) -> tuple[str, Node]:
        def read(page: Any) -> tuple[str, str]:
            return page.url, page.evaluate(SYNC_FORM_STATE)

        url, html = self._do(read)
        return url, dom.parse(html)

    def navigate(self, url: str) -> None:
        self._do(lambda page: page.goto(url, wait_until="load"))

    def _navigating_click(self, bid: int) -> None:
        def click(page: Any) -> None:
            with page.expect_navigation(wait_until="load"):
                self._element(page, bid).click()

        self._do(click)

    def follow(self, bid: int, node: Node) -> None:
        self._navigating_click(bid)

    def submit(self, bid: int, node: Node) -> None:
        if node.ancestor("form") is None or "disabled" in node.attrs or node.attrs.get("type", "submit").lower() != "submit":
            self._do(lambda page: self._element(page, bid).click())
        else:
            self._navigating_click(bid)

    def fill(self, bid: int, node: Node, text: str) -> None:
        self._do(lambda page: self._element(page, bid).fill(text))

    def choose(self, bid: int, node: Node, index: int) -> None:
        self._do(lambda page: self._element(page, bid).select_option(index=index))

    def toggle(self, bid: int, node: Node) -> None:
        self._do(lambda page: self._element(page, bid).click())

    def scroll(self, dx: float, dy: float) -> None:
        self._do(lambda page: page.mouse.wheel(dx, dy))

    def screenshot(self) -> bytes | None:
        return self._do(lambda page: page.screenshot(type="png"))

    def close(self) -> None:
        if self.context is not None:
            context, self.context = self.context, None
            try:
                self.host.call(lambda _browser: context.close(), timeout=10)
            except WebServerError:
                pass  # the browser is gone already; nothing left to close
