"""The hooks a verigym plugin implements. Every hook returns a list of specs; all are optional.

A plugin is any module or object with functions marked `@hookimpl`, exposed through the entry-point
group `verigym` in its package metadata:

    [project.entry-points.verigym]
    my-envs = "my_package.verigym_plugin"
"""

from __future__ import annotations

import pluggy

from verigym.plugins.specs import EnvSpec, PolicySpec, SandboxSpec

PROJECT = "verigym"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class VerigymHooks:
    """Hook specifications (the contract between verigym and its plugins)."""

    @hookspec
    def verigym_envs(self) -> list[EnvSpec]:
        """Environments this plugin provides."""
        return []

    @hookspec
    def verigym_sandboxes(self) -> list[SandboxSpec]:
        """Sandbox backends this plugin provides."""
        return []

    @hookspec
    def verigym_policies(self) -> list[PolicySpec]:
        """Policies (agents) this plugin provides."""
        return []
