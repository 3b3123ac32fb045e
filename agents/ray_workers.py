"""Env workers as Ray actors: episodes' envs live and step on any number of nodes; generation stays here.

`RayEnvWorkers` starts `workers` actors (`EnvWorker`), each with its own `SandboxProviders`. The collector
(`collect(..., workers=...)`) builds `RemoteEnv` proxies instead of envs: a proxy's `reset`/`step`/`close`
(and the `oracle_action`/`sample_action` scripted policies consult) are calls on the actor that holds the real
env, made from the collector's worker threads, so both schedules work unchanged and episodes are identical to
in-process ones for the same seeds and policy (the env runs the same code; tokens are accounted here).

    with RayEnvWorkers(RaySettings(address="local", workers=2)) as workers:
        records = collect("beam-statics-v0", OraclePolicy(), range(8), workers=workers)

Failures never hang and never raise out of `collect`. A call whose actor died, or did not answer within
`call_timeout_s`, is retried once on another live actor: the episode's env is rebuilt there, reset with its
seed and the actions so far replayed (their observations must match), then the call is repeated; the record
says so in `metadata["worker_retry"]`. A second loss, no live actor left, or a replay that diverges raises
`WorkerLost`, a `VerifierError` with reason `worker`: the episode is dropped with the reason.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verigym.envs.verdict import DropReason, VerifierError
from verigym.sandbox.provider import SandboxProviders, SandboxSettings

LOCAL = "local"


class WorkerLost(VerifierError):
    """The Ray actor running an episode's env died or stopped answering, and the one retry failed too (or no
    live actor was left): our fault, not the agent's, so the episode is dropped with reason `worker`."""

    reason = DropReason.WORKER


@dataclass(frozen=True)
class RaySettings:
    """Where and how env workers run (`verigym run --ray`, the trainer's `[rollout.ray]` table).

    `address`: `local` starts a Ray instance on this machine (stopped at `close`); `auto`, `HOST:PORT` or
    `ray://HOST:PORT` join an existing cluster. If Ray is already initialized in this process, that instance
    is used whatever `address` says. `workers` actors, each reserving `num_cpus`; `max_concurrency` env calls
    at once per actor (threads); `call_timeout_s` bounds any one remote call (an env step included), and
    `start_timeout_s` how long the actors may take to start.
    """

    address: str = LOCAL
    workers: int = 2
    num_cpus: float = 1.0
    max_concurrency: int = 64
    call_timeout_s: float = 300.0
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"ray workers must be >= 1, got {self.workers}")
        if self.num_cpus < 0 or self.max_concurrency < 1:
            raise ValueError(f"ray num_cpus must be >= 0 and max_concurrency >= 1, got {self.num_cpus}, {self.max_concurrency}")
        if self.call_timeout_s <= 0 or self.start_timeout_s <= 0:
            raise ValueError("ray call_timeout_s and start_timeout_s must be positive")


def _ray() -> Any:
    """The `ray` module, or a `MissingExtraError` naming the `ray` extra."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        from verigym.plugins.extras import explain_missing_module

        raise explain_missing_module(exc, "Ray env workers") from None
    return ray


@dataclass(frozen=True)
class Opened:
    """What the driver needs to know about an env built on a worker."""

    env_id: str
    type_name: str
    component_names: tuple[str, ...]
    sandbox_requirements: Any


class RemoteTraceback(Exception):
    """Carries the worker-side traceback of an exception re-raised here (as its `__cause__`)."""

    def __str__(self) -> str:
        return self.args[0]


class EnvWorker:
    """A Ray actor body: builds envs on request and runs their calls; owns one `SandboxProviders`."""

    def __init__(self, sandbox: SandboxSettings, pool_size: int) -> None:
        self._providers = SandboxProviders(sandbox, pool_size=pool_size)
        self._envs: dict[int, Any] = {}
        self._factories: dict[int, Callable[[], Any]] = {}
        self._lock = threading.Lock()

    def ready(self) -> dict[str, Any]:
        """Where this actor runs (`pid`, `node`)."""
        return {"pid": os.getpid(), "node": _ray().get_runtime_context().get_node_id()}

    def open(self, key: int, spec_id: int, spec: list[Any]) -> tuple:
        """Build env `key` from spec `spec_id` (`spec[0]` is its object ref, fetched once per actor)."""

        def build() -> Opened:
            with self._lock:
                factory = self._factories.get(spec_id)
            if factory is None:
                from verigym.agents.collect import env_factory

                factory = env_factory(*_ray().get(spec[0]))
                with self._lock:
                    self._factories[spec_id] = factory
            env = factory()
            with self._lock:
                self._envs[key] = env
            requirements = getattr(env, "sandbox_requirements", None)
            if requirements is not None:
                env.use_sandboxes(self._providers)
            return Opened(getattr(env, "env_id", "") or "", type(env).__name__, tuple(env.rubric.names), requirements)

        return _outcome(build)

    def sandbox_metadata(self, key: int) -> tuple:
        return _outcome(lambda: self._envs[key].sandbox_provider().metadata())

    def reset(self, key: int, seed: int | None, options: dict[str, Any] | None) -> tuple:
        def reset() -> tuple:
            env = self._envs[key]
            messages, info = env.reset(seed=seed, options=options)
            return messages, info, env.task

        return _outcome(reset)

    def step(self, key: int, action: str) -> tuple:
        return _outcome(lambda: self._envs[key].step(action))

    def call(self, key: int, name: str, args: tuple, kwargs: dict[str, Any]) -> tuple:
        return _outcome(lambda: getattr(self._envs[key], name)(*args, **kwargs))

    def close_env(self, key: int) -> tuple:
        with self._lock:
            env = self._envs.pop(key, None)
        return _outcome(lambda: env.close() if env is not None else None)

    def live(self) -> dict[str, int]:
        """Envs held and sandbox sessions handed out (both 0 once every episode closed its env)."""
        with self._lock:
            envs = len(self._envs)
        return {"envs": envs, "sessions": self._providers.outstanding()}

    def shutdown(self) -> dict[str, int]:
        """Close every env and destroy every sandbox session; returns what was still open."""
        with self._lock:
            envs, self._envs = list(self._envs.values()), {}
        for env in envs:
            _outcome(env.close)
        sessions = self._providers.outstanding()
        self._providers.close()
        return {"envs": len(envs), "sessions": sessions}


def _outcome(fn: Callable[[], Any]) -> tuple:
    """("ok", value) or ("error", exception, traceback text): env errors travel as values, re-raised as
    their own type by the driver (Ray's wrapped errors would lose the type's attributes)."""
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - re-raised on the driver
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
        try:
            cloudpickle = _ray().cloudpickle
            cloudpickle.loads(cloudpickle.dumps(exc))
        except Exception:  # noqa: BLE001 - an exception that cannot travel is sent as its text
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return ("error", exc, text)


class _Unavailable(Exception):
    """An actor died or did not answer in time (internal: triggers the one retry)."""


class RayEnvWorkers:
    """`settings.workers` env actors and the factories of `RemoteEnv` proxies that run on them.

    Each actor owns `SandboxProviders(sandbox, pool_size=...)` (backend chosen on the actor's node). Use as a
    context manager or call `close()`: it destroys every env and sandbox session on the actors, kills them and
    stops Ray if this object started it. `concurrency` sizes each actor's warm sandbox pool.
    """

    def __init__(self, settings: RaySettings | None = None, sandbox: SandboxSettings | None = None, concurrency: int = 8) -> None:
        ray = _ray()
        self.settings = settings or RaySettings()
        self._owns_ray = False
        if not ray.is_initialized():
            self._start_ray(ray)
        s = self.settings
        pool = max(1, math.ceil(concurrency / s.workers))
        actor = ray.remote(EnvWorker).options(num_cpus=s.num_cpus, max_concurrency=s.max_concurrency, max_restarts=0)
        self.actors = [actor.remote(sandbox or SandboxSettings(), pool) for _ in range(s.workers)]
        try:
            ready, pending = ray.wait([a.ready.remote() for a in self.actors], num_returns=len(self.actors), timeout=s.start_timeout_s)
            if pending:
                cpus = ray.cluster_resources().get("CPU", 0)
                raise RuntimeError(
                    f"{len(pending)} of {s.workers} Ray env workers did not start within {s.start_timeout_s:g} s; the cluster "
                    f"has {cpus:g} CPUs and each worker reserves num_cpus={s.num_cpus:g}: lower workers or num_cpus, or add nodes"
                )
            self.placement = ray.get(ready)
        except BaseException:
            self.close(graceful=False)  # actors that never started have nothing to close
            raise
        self._lock = threading.Lock()
        self._load = {i: 0 for i in range(len(self.actors))}
        self._dead: set[int] = set()
        self._keys = itertools.count()
        self._specs: dict[int, list[Any]] = {}
        self._closed = False

    def _start_ray(self, ray: Any) -> None:
        import logging

        s = self.settings
        if s.address == LOCAL:
            cpus = max(os.cpu_count() or 1, math.ceil(s.workers * s.num_cpus))
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=s.address, logging_level=logging.WARNING)
        self._owns_ray = True

    # --- used by the collector ---------------------------------------------------------------------------
    def env_factory(self, env: str | Callable[[], Any], env_kwargs: dict[str, Any] | None = None) -> Callable[[], RemoteEnv]:
        """A factory of proxies for `env` (a registered id or a picklable zero-argument factory) with
        `env_kwargs` applied on the worker, as `collect` applies them in-process."""
        spec = [_ray().put((env, dict(env_kwargs or {})))]
        with self._lock:
            spec_id = len(self._specs)
            self._specs[spec_id] = spec
        return lambda: RemoteEnv(self, spec_id, spec)

    def live(self) -> list[dict[str, int]]:
        """Per live actor: envs held and sandbox sessions out (a finished run leaves zeros)."""
        return [self._invoke(i, "live") for i in self._alive()]

    def close(self, graceful: bool = True) -> None:
        """Close every env and sandbox session on the actors (`graceful`, up to 30 s), kill them, stop Ray if
        started here; idempotent."""
        ray = _ray()
        if getattr(self, "_closed", False) and not self.actors:
            return
        self._closed = True
        actors, self.actors = list(self.actors), []
        if actors and ray.is_initialized():
            if graceful:
                refs = [a.shutdown.remote() for a in actors]
                ray.wait(refs, num_returns=len(refs), timeout=min(30.0, self.settings.call_timeout_s))
            for a in actors:
                ray.kill(a, no_restart=True)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayEnvWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------------------
    def _alive(self) -> list[int]:
        with self._lock:
            return [i for i in range(len(self.actors)) if i not in self._dead]

    def _assign(self, exclude: int | None = None) -> int:
        """The live actor with the fewest open envs; `WorkerLost` when none is left."""
        with self._lock:
            if self._closed and not self.actors:
                raise WorkerLost("the Ray env workers are closed")
            candidates = [i for i in self._load if i not in self._dead and i != exclude]
            if not candidates:
                raise WorkerLost(f"no live Ray env worker left ({len(self._dead)} of {len(self._load)} died)")
            chosen = min(candidates, key=lambda i: (self._load[i], i))
            self._load[chosen] += 1
            return chosen

    def _release(self, index: int) -> None:
        with self._lock:
            self._load[index] = max(0, self._load[index] - 1)

    def _invoke(self, index: int, method: str, *args: Any) -> Any:
        """Call `method` on actor `index`; re-raise the env's own exception; `_Unavailable` if the actor is
        gone or silent past `call_timeout_s`."""
        ray = _ray()
        try:
            actor = self.actors[index]
            result = ray.get(getattr(actor, method).remote(*args), timeout=self.settings.call_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            raise _Unavailable(f"Ray env worker {index} did not answer {method} within {self.settings.call_timeout_s:g} s") from exc
        except (ray.exceptions.RayActorError, IndexError) as exc:
            with self._lock:
                self._dead.add(index)
            raise _Unavailable(f"Ray env worker {index} died ({type(exc).__name__})") from exc
        if not isinstance(result, tuple):
            return result
        if result[0] == "ok":
            return result[1]
        _, error, text = result
        error.__cause__ = RemoteTraceback(f"on Ray env worker {index}:\n{text}")
        raise error


class _RubricView:
    """The rubric facts the collector reads from an env (`names`, `zeros()`), without shipping the rubric."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def zeros(self) -> dict[str, float]:
        return {name: 0.0 for name in self.names}


class _ProviderView:
    """`env.sandbox_provider().metadata()` of the env on the worker (what records say about the sandbox)."""

    def __init__(self, env: RemoteEnv) -> None:
        self._env = env

    def metadata(self) -> dict[str, Any]:
        return self._env._call("sandbox_metadata")


class RemoteEnv:
    """A proxy for one episode's env held by a Ray env worker (see the module docstring)."""

    def __init__(self, workers: RayEnvWorkers, spec_id: int, spec: list[Any]) -> None:
        self._workers, self._spec_id, self._spec = workers, spec_id, spec
        self._key = next(workers._keys)
        self._reset_args: tuple[Any, Any] | None = None
        self._first: Any = None
        self._history: list[tuple[str, Any]] = []
        self._retry: str | None = None
        self._closed = False
        self._worker = workers._assign()
        try:
            opened: Opened = self._call("open", spec_id, spec)
        except BaseException:
            workers._release(self._worker)
            raise
        self.env_id = opened.env_id or opened.type_name  # what the collector names an env without an id
        self.rubric = _RubricView(opened.component_names)
        self.sandbox_requirements = opened.sandbox_requirements
        self.task: Any = None

    @property
    def worker_metadata(self) -> dict[str, Any]:
        """What the episode record should say about the workers (only when a retry happened)."""
        return {"worker_retry": self._retry} if self._retry else {}

    def use_sandboxes(self, providers: Any) -> None:
        """No-op: the env uses its worker's own providers."""

    def sandbox_provider(self, limits: Any = None) -> _ProviderView:
        return _ProviderView(self)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list, dict]:
        messages, info, self.task = self._call("reset", seed, options)
        self._reset_args, self._first, self._history = (seed, options), messages, []
        return messages, info

    def step(self, action: str) -> tuple:
        result = self._call("step", action)
        self._history.append((action, result[0]))
        return result

    def oracle_action(self) -> str:
        return self._call("call", "oracle_action", (), {})

    def sample_action(self, rng: Any) -> str:
        return self._call("call", "sample_action", (rng,), {})

    def remote_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call method `name` of the env on its worker (for policies that consult other env methods)."""
        return self._call("call", name, args, kwargs)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._workers._release(self._worker)
        try:
            self._workers._invoke(self._worker, "close_env", self._key)
        except _Unavailable:
            pass  # the env went with its worker

    def _call(self, method: str, *args: Any) -> Any:
        """`method` on this episode's worker; on a lost worker, the one retry (`_move`), then the call again."""
        try:
            return self._workers._invoke(self._worker, method, self._key, *args)
        except _Unavailable as lost:
            try:
                opened = self._move(str(lost))
            except WorkerLost as error:
                raise WorkerLost(f"{lost}; {error}") from None
        if method == "open":
            return opened
        try:
            return self._workers._invoke(self._worker, method, self._key, *args)
        except _Unavailable as lost:
            raise WorkerLost(f"{lost}, after a retry on another worker ({self._retry})") from None

    def _move(self, reason: str) -> Opened:
        """Rebuild this episode's env on another live actor and replay it to where it was (the one retry)."""
        if self._retry is not None:
            raise WorkerLost(f"this episode was already retried once ({self._retry})")
        old = self._worker
        self._worker = self._workers._assign(exclude=old)  # WorkerLost when no live actor is left
        self._retry = reason
        self._workers._release(old)
        try:
            self._workers.actors[old].close_env.remote(self._key)  # a silent (not dead) actor drops its copy
        except Exception:  # noqa: BLE001 - best effort: the actor may be gone
            pass
        try:
            opened = self._workers._invoke(self._worker, "open", self._key, self._spec_id, self._spec)
            if self._reset_args is None:
                return opened
            messages, _, _ = self._workers._invoke(self._worker, "reset", self._key, *self._reset_args)
            if messages != self._first:
                raise WorkerLost("replaying it on another worker gave a different first observation")
            for turn, (action, observation) in enumerate(self._history):
                replayed = self._workers._invoke(self._worker, "step", self._key, action)
                if replayed[0] != observation:
                    raise WorkerLost(f"replaying turn {turn} on another worker gave a different observation")
            return opened
        except _Unavailable as lost:
            raise WorkerLost(f"the retry's worker failed too: {lost}") from None

