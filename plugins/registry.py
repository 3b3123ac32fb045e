"""The process-wide registry of environments, sandbox backends and policies, filled from plugins.

It is built lazily on first use in each process (so spawned workers discover plugins too) by loading every
entry point in the `verigym` group into a pluggy manager and calling its hooks one plugin at a time, which
lets a duplicate name be refused with an error that names both plugins.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pluggy

from verigym.plugins.hookspecs import PROJECT, VerigymHooks
from verigym.plugins.specs import EnvSpec, PolicySpec, SandboxSpec

S = TypeVar("S", EnvSpec, SandboxSpec, PolicySpec)
ENV_ID = re.compile(r"^[a-z0-9][a-z0-9_\-/]*-v\d+$")
RUNTIME_PLUGIN = "<runtime>"


class RegistryError(LookupError):
    """A lookup of an unknown name, or a registration the registry refuses."""


class DuplicateRegistrationError(RegistryError):
    """Two plugins registered the same name."""


@dataclass(frozen=True)
class Registered(Generic[S]):
    """A spec and the plugin that provided it."""

    spec: S
    plugin: str


class Kind(Generic[S]):
    """One table of the registry (envs, sandboxes or policies)."""

    def __init__(self, noun: str, key: str) -> None:
        self.noun = noun
        self._key = key
        self.entries: dict[str, Registered[S]] = {}

    def add(self, spec: S, plugin: str) -> None:
        name = getattr(spec, self._key)
        if self.noun == "environment" and not ENV_ID.match(name):
            raise RegistryError(f"plugin {plugin!r}: env id {name!r} must be lower-case and versioned, e.g. 'my-task-v0'")
        if name in self.entries:
            other = self.entries[name].plugin
            raise DuplicateRegistrationError(
                f"{self.noun} {name!r} is registered by both plugin {other!r} and plugin {plugin!r}; "
                f"uninstall one of them or rename the {self.noun}"
            )
        self.entries[name] = Registered(spec, plugin)

    def get(self, name: str) -> Registered[S]:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise RegistryError(f"no {self.noun} named {name!r}; registered: {known} (see `verigym list`)") from None

    def names(self) -> list[str]:
        return sorted(self.entries)


class Registry:
    """Every registered env, sandbox backend and policy, each with the plugin that provided it."""

    def __init__(self) -> None:
        self.envs: Kind[EnvSpec] = Kind("environment", "id")
        self.sandboxes: Kind[SandboxSpec] = Kind("sandbox backend", "name")
        self.policies: Kind[PolicySpec] = Kind("policy", "name")
        self.plugins: dict[str, str] = {}

    def load_plugin_manager(self, pm: pluggy.PluginManager) -> None:
        """Collect every plugin's specs, one hook implementation at a time."""
        for hook, kind in (
            (pm.hook.verigym_envs, self.envs),
            (pm.hook.verigym_sandboxes, self.sandboxes),
            (pm.hook.verigym_policies, self.policies),
        ):
            for impl in hook.get_hookimpls():
                specs = impl.function() or []
                for spec in specs:
                    kind.add(spec, impl.plugin_name)


def plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager with the verigym hook specs and every `verigym` entry point loaded."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(VerigymHooks)
    pm.load_setuptools_entrypoints(PROJECT)
    return pm


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The registry for this process, discovered from entry points on first call."""
    global _registry
    with _lock:
        if _registry is None:
            pm = plugin_manager()
            registry = Registry()
            registry.load_plugin_manager(pm)
            for plugin, dist in pm.list_plugin_distinfo():
                registry.plugins[pm.get_name(plugin)] = f"{dist.project_name} {dist.version}"
            _registry = registry
        return _registry


def reset_registry() -> None:
    """Forget the registry so the next `get_registry()` rediscovers plugins (after installing one)."""
    global _registry
    with _lock:
        _registry = None


def register_env(id: str, entry_point: Any, description: str = "", **defaults: Any) -> None:
    """Register an env in this process only (like `gymnasium.register`); plugins reach every process."""
    get_registry().envs.add(EnvSpec(id, entry_point, description, defaults), RUNTIME_PLUGIN)


def make(env_id: str, **kwargs: Any) -> Any:
    """Build the registered env `env_id`, passing `kwargs` as config overrides."""
    registered = get_registry().envs.get(env_id)
    return registered.spec.build(**kwargs)


def make_policy(name: str, **kwargs: Any) -> Any:
    """Build the registered policy `name`."""
    return get_registry().policies.get(name).spec.build(**kwargs)


def accepted_policy_settings(name: str, offered: dict[str, Any]) -> dict[str, Any]:
    """The settings in `offered` that the registered policy `name`'s constructor takes as parameters (a caller
    offers what it knows, e.g. `concurrent_calls`; each policy picks what applies to it)."""
    import inspect

    from verigym.plugins.specs import resolve

    spec = get_registry().policies.get(name).spec
    factory = resolve(spec.entry_point, spec.extra, f"policy {name!r}")
    params = inspect.signature(factory).parameters
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {k: v for k, v in offered.items() if k in params and params[k].kind in kinds}


def make_sandbox(name: str, **kwargs: Any) -> Any:
    """Build the registered sandbox backend `name`."""
    return get_registry().sandboxes.get(name).spec.build(**kwargs)
