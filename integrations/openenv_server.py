"""Any registered verigym env as a server speaking OpenEnv's protocol (`verigym serve ENV`).

The HTTP/WebSocket layer is OpenEnv's own (`openenv.core.env_server.HTTPEnvServer`), so the message shapes,
the session handling and the error codes are exactly those the `openenv-core` clients expect:

- WebSocket `/ws`: one session per connection, with its own env instance (and, for an env that runs code,
  its own sandbox session per episode, from the server's one `SandboxProviders`). Messages `reset`
  (`data: {seed, episode_id}`), `step` (`data: {text}`), `state`, `close`. The env is closed, and its
  sandbox session released, when the client closes, disconnects or vanishes, or after `idle_timeout_s`.
- HTTP `POST /reset`, `POST /step`, `GET /state`: OpenEnv's stateless variants (a fresh env per request), so
  a multi-turn episode needs the WebSocket; `GET /health`, `/schema`, `/metadata` as OpenEnv defines them.
- `GET /verigym/status`: live counts (sessions, open envs, sandbox sessions out) for operators and tests.

An observation carries the new chat `messages` (the opening conversation on reset), `terminated`,
`truncated`, `reward_components`, `task_id`, `seed`, `turn` and `malformed`; `reward` and `done`
(= terminated or truncated) are OpenEnv's own fields. A verifier or sandbox failure is not scored: the
client gets OpenEnv's `EXECUTION_ERROR` with the reason, as the in-process runner drops such an episode.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, ConcurrencyConfig, EnvironmentMetadata, Observation, State
from pydantic import Field

from verigym.plugins.registry import get_registry, make


class VerigymAction(Action):
    """One agent turn: the assistant's text, exactly what `env.step(text)` takes in-process."""

    text: str = Field(description="the assistant's turn (tool calls and answers in the env's own format)")


class VerigymObservation(Observation):
    """What `env.reset` / `env.step` returned, with OpenEnv's `reward` and `done` (= terminated or truncated)."""

    messages: list[dict[str, str]] = Field(default_factory=list, description="new chat messages from the env")
    terminated: bool = False
    truncated: bool = False
    reward_components: dict[str, float] = Field(default_factory=dict)
    task_id: str = ""
    seed: int | None = None
    turn: int = 0
    malformed: str | None = None


class VerigymState(State):
    """The session's episode: env id, task, seed, turn and whether it is over."""

    env_id: str = ""
    task_id: str | None = None
    seed: int | None = None
    done: bool = True


@dataclass
class SessionLedger:
    """Counts of env instances the server opened and closed (a leak shows as opened > closed + active)."""

    opened: int = 0
    closed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def open(self) -> None:
        with self._lock:
            self.opened += 1

    def close(self) -> None:
        with self._lock:
            self.closed += 1

    @property
    def live(self) -> int:
        with self._lock:
            return self.opened - self.closed


class ServedEnv(Environment[VerigymAction, VerigymObservation, VerigymState]):
    """One client session's env instance behind OpenEnv's `Environment` interface."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # every session gets its own instance; nothing is shared but providers

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], providers: Any, ledger: SessionLedger) -> None:
        super().__init__()
        self.env_id = env_id
        self.env = make(env_id, **env_kwargs)
        if getattr(self.env, "sandbox_requirements", None) is not None:
            self.env.use_sandboxes(providers)
        self._ledger = ledger
        self._closed = False
        self._episode_id: str | None = None
        self._seed: int | None = None
        self._done = True
        ledger.open()

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> VerigymObservation:
        if kwargs:
            raise ValueError(f"reset takes only seed and episode_id; got also {sorted(kwargs)}")
        self._check_open()
        messages, info = self.env.reset(seed=seed)
        self._episode_id, self._seed, self._done = episode_id, info.get("seed", seed), False
        return VerigymObservation(messages=messages, task_id=str(info.get("task_id", "")), seed=self._seed)

    def step(self, action: VerigymAction, timeout_s: float | None = None, **kwargs: Any) -> VerigymObservation:
        self._check_open()
        messages, reward, terminated, truncated, info = self.env.step(action.text)
        self._done = terminated or truncated
        return VerigymObservation(
            messages=messages,
            reward=float(reward),
            done=self._done,
            terminated=terminated,
            truncated=truncated,
            reward_components={k: float(v) for k, v in info.get("reward_components", {}).items()},
            task_id=str(info.get("task_id", "")),
            seed=self._seed,
            turn=int(info.get("turn", 0)),
            malformed=info.get("malformed"),
        )

    @property
    def state(self) -> VerigymState:
        task = getattr(self.env, "task", None)
        return VerigymState(
            episode_id=self._episode_id,
            step_count=int(getattr(self.env, "turn", 0)),
            env_id=self.env_id,
            task_id=getattr(task, "task_id", None),
            seed=self._seed,
            done=self._done,
        )

    def get_metadata(self) -> EnvironmentMetadata:
        spec = get_registry().envs.get(self.env_id).spec
        return EnvironmentMetadata(
            name=self.env_id, description=getattr(spec, "description", "") or self.env_id, version="verigym"
        )

    def close(self) -> None:
        """Close the env (releasing its sandbox session); idempotent, and the session refuses further use."""
        if self._closed:
            return
        self._closed = True
        try:
            self.env.close()
        finally:
            self._ledger.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this session was closed (idle timeout or shutdown); open a new connection")


@dataclass(frozen=True)
class ServeSettings:
    """How `verigym serve` runs: sessions at most, idle timeout, env settings and the sandbox backend."""

    env_id: str
    max_sessions: int = 64
    idle_timeout_s: float | None = 600.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    sandbox: str = "auto"
    sandbox_pool: int | None = None

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"--max-sessions must be >= 1, got {self.max_sessions}")
        if self.idle_timeout_s is not None and self.idle_timeout_s <= 0:
            raise ValueError(f"--idle-timeout must be positive (or 0 for none), got {self.idle_timeout_s}")


def create_app(settings: ServeSettings) -> Any:
    """The FastAPI app serving `settings.env_id`; the server's sandbox providers close on shutdown."""
    from verigym.sandbox.provider import SandboxProviders, SandboxSettings

    get_registry().envs.get(settings.env_id)  # an unknown id fails here, naming the registered ones
    make(settings.env_id, **settings.env_kwargs).close()  # bad env settings fail at start, not per session
    pool = settings.sandbox_pool or min(settings.max_sessions, 8)
    providers = SandboxProviders(SandboxSettings(backend=settings.sandbox, pool_size=pool))
    ledger = SessionLedger()
    factory = functools.partial(
        ServedEnv, env_id=settings.env_id, env_kwargs=dict(settings.env_kwargs), providers=providers, ledger=ledger
    )
    from fastapi import FastAPI

    server = HTTPEnvServer(
        factory,
        VerigymAction,
        VerigymObservation,
        concurrency_config=ConcurrencyConfig(
            max_concurrent_envs=settings.max_sessions, session_timeout=settings.idle_timeout_s
        ),
    )
    app = FastAPI(title=f"verigym {settings.env_id} (OpenEnv protocol)", version=_version())
    server.register_routes(app)
    app.state.verigym_providers = providers
    app.state.verigym_ledger = ledger

    @app.get("/verigym/status", tags=["Health"])
    def status() -> dict[str, Any]:
        return {
            "env_id": settings.env_id,
            "active_sessions": server.active_sessions,
            "max_sessions": settings.max_sessions,
            "idle_timeout_s": settings.idle_timeout_s,
            "envs_opened": ledger.opened,
            "envs_live": ledger.live,
            "sandbox_sessions_out": providers.outstanding(),
        }

    app.router.on_shutdown.append(providers.close)
    return app


def _version() -> str:
    from verigym import __version__

    return __version__


def serve(settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    """Run the server until interrupted."""
    import uvicorn

    app = create_app(settings)
    print(
        f"verigym serve: {settings.env_id} on http://{host}:{port} (WebSocket /ws, health /health), "
        f"max {settings.max_sessions} sessions, idle timeout {settings.idle_timeout_s or 'none'} s",
        flush=True,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws_max_size=100 * 2**20)
    logging.getLogger("uvicorn.error").addFilter(_drop_gone_client_tracebacks)
    uvicorn.Server(config).run()


def _drop_gone_client_tracebacks(record: logging.LogRecord) -> bool:
    """OpenEnv's WebSocket handler closes the socket of a client that already left and lets starlette's
    `WebSocketDisconnect` escape: a full traceback per departed client. The session was torn down before that;
    the log keeps everything else."""
    from starlette.websockets import WebSocketDisconnect

    return not (record.exc_info and isinstance(record.exc_info[1], WebSocketDisconnect))
