"""Serve one site per episode on a free 127.0.0.1 port from a worker thread, with a private database file."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class WebServerError(RuntimeError):
    """The site's server failed (stopped answering, crashed, or answered 500): the episode errors with this reason."""


class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # seconds a client may take to send its request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _LoopbackServer(WSGIServer):
    request_queue_size = 16

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up is not a server failure


class SiteServer:
    """A WSGI app built by `make_app(db_path)` on a database `seed_db(db_path)` wrote, served on loopback.

    The database lives in a fresh 0700 temp dir outside anything the app serves. `stop()` (idempotent)
    shuts the server down and removes the directory.
    """

    def __init__(self, make_app: Callable[[str], Any], seed_db: Callable[[str], None]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="verigym-web-"))
        self.db_path = str(self.dir / "site.db")
        seed_db(self.db_path)
        self.app = make_app(self.db_path)
        self._server = _LoopbackServer(("127.0.0.1", 0), _QuietHandler)
        self._server.set_app(self.app)
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, name=f"verigym-web-{self.port}", daemon=True)
        self.failure: str | None = None
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.01)
        except BaseException as exc:  # noqa: BLE001 - recorded and reported as the episode's error
            self.failure = f"{type(exc).__name__}: {exc}"

    @property
    def alive(self) -> bool:
        """Whether the serving thread is still running."""
        return self._thread.is_alive()

    def check(self) -> None:
        """Raise `WebServerError` if the server is no longer serving."""
        if not self.alive:
            raise WebServerError(f"the site server on {self.origin} stopped: {self.failure or 'it is not running'}")

    def kill(self) -> None:
        """Stop serving abruptly (tests use it to simulate a crash); the files stay for inspection."""
        self._server.shutdown()
        self._server.server_close()
        self.failure = "killed"

    def stop(self) -> None:
        """Stop the server, close the database and remove the temp dir (idempotent)."""
        if self.alive:
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        with self.app.lock:
            self.app.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (tests use it to show a stopped server is gone)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
