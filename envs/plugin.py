"""Built-in environments, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import EnvSpec


@hookimpl
def verigym_envs() -> list[EnvSpec]:
    return [
        EnvSpec("beam-statics-v0", "verigym.envs.beam_statics.env:BeamStaticsEnv", "support reactions of loaded beams, exact in P and L"),
    ]
