"""Problems in KernelBench's format, and the loader for folders of them.

A problem is one Python file defining `class Model(nn.Module)` with `forward`, `get_inputs()` (the forward's
tensors, drawn from torch's seeded RNG) and `get_init_inputs()` (plain constructor arguments). Shapes live in
top-level integer constants (`batch_size = 16`), which `apply_overrides` rewrites to scale a problem up.
Files are parsed, never executed, on the host: they run only inside the grading sandbox.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CURATED_DIR = Path(__file__).with_name("problems")
DTYPES = ("float32", "float16", "bfloat16")
REQUIRED = ("Model", "get_inputs", "get_init_inputs")


class ProblemError(ValueError):
    """A problem file is not in KernelBench's format (says which file and what is missing)."""


@dataclass(frozen=True)
class Problem:
    """One reference problem: its name, source text, input dtype, category and where it came from."""

    name: str
    source: str
    dtype: str = "float32"
    category: str = "other"
    origin: str = "curated"


def check_format(source: str, where: str) -> None:
    """Raise ProblemError unless `source` parses and defines Model, get_inputs and get_init_inputs."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ProblemError(f"{where}: not valid Python ({exc.msg}, line {exc.lineno})") from None
    defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    missing = [name for name in REQUIRED if name not in defined]
    if missing:
        raise ProblemError(f"{where}: not in KernelBench format, missing top-level {', '.join(missing)}")


def guess_dtype(source: str) -> str:
    """The input dtype a KernelBench file uses (float32 unless it names a half type)."""
    if re.search(r"\bbfloat16\b", source):
        return "bfloat16"
    if re.search(r"\b(float16|half)\b", source):
        return "float16"
    return "float32"


def apply_overrides(source: str, overrides: dict[str, int]) -> str:
    """`source` with the top-level integer constants named in `overrides` set to the given values."""
    if not overrides:
        return source
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    found = set()
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in overrides
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
            and node.lineno == node.end_lineno
        ):
            name = node.targets[0].id
            lines[node.lineno - 1] = f"{name} = {int(overrides[name])}\n"
            found.add(name)
    unknown = set(overrides) - found
    if unknown:
        raise ProblemError(f"no top-level integer constant(s) {sorted(unknown)} to override")
    return "".join(lines)


def load_problem(path: str | Path, origin: str = "kernelbench", category: str = "other") -> Problem:
    """One KernelBench-format file as a Problem (named after the file)."""
    path = Path(path)
    source = path.read_text()
    check_format(source, str(path))
    return Problem(path.stem, source, guess_dtype(source), category, origin)


def load_folder(folder: str | Path) -> list[Problem]:
    """Every `*.py` problem in a KernelBench-style folder (e.g. `KernelBench/level1`), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProblemError(f"{folder} is not a folder of KernelBench problem files")
    problems = [load_problem(p) for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]
    if not problems:
        raise ProblemError(f"{folder} holds no *.py problem files")
    return problems


def curated_problems(scale: str = "cpu") -> list[Problem]:
    """The curated problems, with shapes for `scale` (`cpu`: small, for the interpreter; `gpu`: index.toml)."""
    if scale not in ("cpu", "gpu"):
        raise ValueError(f"scale must be 'cpu' or 'gpu', got {scale!r}")
    index = tomllib.loads((CURATED_DIR / "index.toml").read_text())
    problems = []
    for name, meta in index.items():
        source = (CURATED_DIR / f"{name}.py").read_text()
        check_format(source, f"{name}.py")
        if scale == "gpu":
            source = apply_overrides(source, meta.get("gpu", {}))
        if meta["dtype"] not in DTYPES:
            raise ProblemError(f"{name}: dtype {meta['dtype']!r} is not one of {DTYPES}")
        problems.append(Problem(name, source, meta["dtype"], meta["category"], "curated"))
    return problems
