"""Plugin hooks, specs and the registry that discovers them through the `verigym` entry-point group."""

from verigym.plugins.hookspecs import hookimpl, hookspec
from verigym.plugins.registry import (
    DuplicateRegistrationError,
    Registry,
    RegistryError,
    get_registry,
    make,
    make_policy,
    make_sandbox,
    register_env,
    reset_registry,
)
from verigym.plugins.specs import EnvSpec, PolicySpec, SandboxSpec

__all__ = [
    "DuplicateRegistrationError",
    "EnvSpec",
    "PolicySpec",
    "Registry",
    "RegistryError",
    "SandboxSpec",
    "get_registry",
    "hookimpl",
    "hookspec",
    "make",
    "make_policy",
    "make_sandbox",
    "register_env",
    "reset_registry",
]
