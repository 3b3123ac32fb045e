"""Built-in environments, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import EnvSpec


@hookimpl
def verigym_envs() -> list[EnvSpec]:
    return [
        EnvSpec("copy-digits-v0", "verigym.envs.copy_digits.env:CopyDigitsEnv", "copy a short digit string (learnable by a tiny model)"),
        EnvSpec("beam-statics-v0", "verigym.envs.beam_statics.env:BeamStaticsEnv", "support reactions of loaded beams, exact in P and L"),
        EnvSpec("sql-v0", "verigym.envs.sql.env:SqlEnv", "text-to-SQL on generated SQLite databases, verified on hidden variants"),
    ]
