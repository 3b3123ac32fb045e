"""Maps the repository's top-level source folders into the `verigym` import namespace.

The repository root is the `verigym` package, so its own top-level files need care: only the modules in
TOP_LEVEL_MODULES ship (not this file), and data ships only from inside the source folders, where every
non-Python file (image recipes, knowledge bases, site templates, a family's data/) is picked up
without being listed, except tests, caches and hidden files.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Every top-level folder that is a Python package (envs, plugins, sandbox, agents, trainer, and any added
# later, e.g. integrations); tests/, benchmarks/ and examples/ are not packages and do not ship.
SOURCE_FOLDERS = sorted(
    path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file() and path.name not in ("build", "dist", "tests", "benchmarks", "examples")
)
TOP_LEVEL_MODULES = ("__init__", "__main__", "cli")
TOP_LEVEL_DATA = ["py.typed"]
SKIPPED_DIRS = ("tests", "__pycache__")
SKIPPED_SUFFIXES = (".py", ".pyc", ".pyo", ".so")


def _skipped(part: str) -> bool:
    return part in SKIPPED_DIRS or part.startswith(".") or part.endswith(".egg-info")


def source_packages() -> list[str]:
    """Every folder under the source folders (data-only folders too, as namespace packages), minus tests."""
    found = find_namespace_packages(str(ROOT), include=[f"{folder}*" for folder in SOURCE_FOLDERS])
    return [name for name in found if not any(_skipped(part) for part in name.split("."))]


def data_files_of(package: str) -> list[str]:
    """The non-Python files directly inside `package`'s folder."""
    folder = ROOT.joinpath(*package.split("."))
    return sorted(
        path.name
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix not in SKIPPED_SUFFIXES
    )


class BuildPy(build_py):
    """Ships only the intended top-level modules of the root package (never setup.py)."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        if package == "verigym":
            modules = [module for module in modules if module[1] in TOP_LEVEL_MODULES]
        return modules


packages = source_packages()
package_data = {f"verigym.{name}": files for name in packages if (files := data_files_of(name))}
package_data["verigym"] = TOP_LEVEL_DATA

setup(
    packages=["verigym"] + [f"verigym.{name}" for name in packages],
    package_data=package_data,
    include_package_data=False,
    cmdclass={"build_py": BuildPy},
)
