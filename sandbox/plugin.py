"""Built-in sandbox backends, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import SandboxSpec


@hookimpl
def verigym_sandboxes() -> list[SandboxSpec]:
    return []
