"""Registers `hello-v0` through verigym's `verigym_envs` hook."""

from verigym.plugins import EnvSpec, hookimpl


@hookimpl
def verigym_envs() -> list[EnvSpec]:
    return [EnvSpec("hello-v0", "verigym_hello.env:HelloEnv", "greet the person named in the prompt")]
