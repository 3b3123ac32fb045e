"""Built-in sandbox backends, registered through the same hook a third-party plugin uses."""

from verigym.plugins.hookspecs import hookimpl
from verigym.plugins.specs import SandboxSpec


@hookimpl
def verigym_sandboxes() -> list[SandboxSpec]:
    return [
        SandboxSpec(
            "local",
            "verigym.sandbox.local:LocalBackend",
            "bubblewrap namespaces + rlimits (unshare fallback); the embedded default",
        ),
        SandboxSpec(
            "docker",
            "verigym.sandbox.docker_backend:DockerBackend",
            "hardened containers from registry-free images (`verigym sandbox build`)",
            extra="docker",
        ),
        SandboxSpec(
            "auto",
            "verigym.sandbox.choose:make_backend",
            "docker when an engine answers and the image exists, else local",
        ),
    ]
