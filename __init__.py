"""verigym: reinforcement learning of LLM agents against verifiable, multi-turn text environments.

The thin facade: `verigym.make(env_id)`, `verigym.register(...)`, `verigym.list_envs()`.
The repository root is this package; envs/, plugins/, sandbox/, agents/ and trainer/ are its sub-packages.
"""

from verigym.plugins.registry import get_registry, make
from verigym.plugins.registry import register_env as register

__version__ = "0.1.0"


def list_envs() -> list[str]:
    """Ids of every registered environment."""
    return get_registry().envs.names()


__all__ = ["__version__", "get_registry", "list_envs", "make", "register"]
