"""Install verigym as a user would: build the sdist and wheel once, install the wheel into fresh virtualenvs
(core only, and with the `sql` extra) and run the README's smoke commands there, outside the repository.

Core dependencies come from the package index once per session (`pip download` into a wheelhouse, through
pip's cache); every virtualenv then installs from that wheelhouse with `--no-index`, so the whole module
takes well under two minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = [path.name for path in REPO.iterdir() if (path / "__init__.py").is_file()]
TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "cli.py", "py.typed"}
BUILTIN_ENVS = "import json; from verigym.envs.plugin import verigym_envs; print(json.dumps({s.id: s.extra for s in verigym_envs()}))"
NOT_COPIED = {".venv", ".git", "build", "dist", "runs", "out", ".cache", ".pytest_cache", "__pycache__"}


def run(argv: list[str], cwd: Path, ok: bool = True, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a command with a clean environment (no PYTHONPATH, no active venv); assert success when `ok`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert done.returncode == 0, f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it (`python -m build`), from a copy of the working tree."""
    root = tmp_path_factory.mktemp("install")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=lambda _, names: [n for n in names if n in NOT_COPIED or n.endswith(".egg-info")])
    out = root / "dist"
    done = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)], cwd=root)
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "warning" in line.lower() and "byte-compiling is disabled" not in line]
    assert not warnings, "\n".join(warnings)
    return {"root": root, "wheel": next(out.glob("verigym-*.whl")), "sdist": next(out.glob("verigym-*.tar.gz"))}


@pytest.fixture(scope="session")
def wheelhouse(dist: dict[str, Path]) -> Path:
    """The wheel and every distribution the core and the `sql` extra need."""
    house = dist["root"] / "wheelhouse"
    run([sys.executable, "-m", "pip", "download", "-q", "-d", str(house), f"{dist['wheel']}[sql]"], cwd=dist["root"])
    return house


def make_venv(wheelhouse: Path, name: str, requirement: str) -> Path:
    """A fresh virtualenv (no system site-packages) with `requirement` installed from the wheelhouse only."""
    venv = wheelhouse.parent / name
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=wheelhouse.parent)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
    run([*pip, "--no-index", "--find-links", str(wheelhouse), requirement], cwd=wheelhouse.parent)
    return venv


@pytest.fixture(scope="session")
def core_venv(wheelhouse: Path) -> Path:
    return make_venv(wheelhouse, "venv-core", "verigym")


@pytest.fixture(scope="session")
def sql_venv(wheelhouse: Path) -> Path:
    return make_venv(wheelhouse, "venv-sql", "verigym[sql]")


def verigym(venv: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    return run([str(venv / "bin" / "verigym"), *args], cwd=venv.parent, ok=ok)


def installed(venv: Path) -> set[str]:
    done = run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"], cwd=venv.parent)
    return set(done.stdout.split())


def source_files(root: Path) -> set[str]:
    """Every file the wheel must carry: all files of the package folders (code, problem files, recipes, data,
    templates), tests, caches and hidden files aside."""
    found = set()
    for folder in SOURCE_FOLDERS:
        for path in (root / folder).rglob("*"):
            parts = path.relative_to(root).parts
            if path.is_file() and path.suffix not in (".pyc", ".pyo") and not any(
                p in ("tests", "__pycache__") or p.startswith(".") for p in parts
            ):
                found.add("verigym/" + "/".join(parts))
    return found


def test_wheel_holds_the_package_and_its_data_only(dist: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    assert {n.split("/")[0] for n in names} == {"verigym", dist["wheel"].name.split("-py3")[0] + ".dist-info"}
    assert {n.split("/", 1)[1] for n in names if n.count("/") == 1 and n.startswith("verigym/")} == TOP_LEVEL_FILES
    assert not [n for n in names if "/tests/" in n or "__pycache__" in n or n.endswith("/setup.py")]
    assert {"verigym/sandbox/images/base.toml", "verigym/envs/plugin.py", "verigym/plugins/doctor.py"} <= names
    assert source_files(dist["root"] / "src") - names == set(), "files of the package folders missing from the wheel"
    sdist = {n.split("/", 1)[1] for n in tarfile.open(dist["sdist"]).getnames() if "/" in n}
    assert {"pyproject.toml", "setup.py", "README.md", "sandbox/images/base.toml"} <= sdist


def test_core_install_lists_runs_and_reports(core_venv: Path) -> None:
    assert not installed(core_venv) & {"sqlglot", "torch", "transformers", "docker", "vllm", "triton"}

    listing = json.loads(verigym(core_venv, "list", "--json").stdout)
    envs = {row["name"]: row for row in listing["envs"]}
    specs = json.loads(run([str(core_venv / "bin" / "python"), "-c", BUILTIN_ENVS], cwd=core_venv.parent).stdout)
    assert len(specs) >= 3
    for env_id, extra in specs.items():  # every built-in env is listed, with its install command when its extra is absent
        assert env_id in envs
        assert envs[env_id]["install"] == (f"pip install 'verigym[{extra}]'" if extra else None)
    assert envs["sql-v0"]["install"] == "pip install 'verigym[sql]'"
    assert "[not installed: pip install 'verigym[sql]']" in verigym(core_venv, "list").stdout

    out = core_venv.parent / "core-episodes.parquet"
    summary = verigym(core_venv, "run", "beam-statics-v0", "--agent", "oracle", "-n", "5", "--no-progress", "--out", str(out)).stdout
    assert "success rate              1.000" in summary and "episodes                  5" in summary
    assert "beam-statics-v0" in verigym(core_venv, "show", str(out), "--episode", "0").stdout

    report = verigym(core_venv, "doctor").stdout
    assert "MISSING  sql" in report and "-> pip install 'verigym[sql]'" in report
    checks = {(c["section"], c["name"]): c for c in json.loads(verigym(core_venv, "doctor", "--json").stdout)}
    assert checks[("python extras", "sql")]["ok"] is False
    assert checks[("python extras", "train")]["fix"].startswith("pip install 'verigym[train]'")
    assert ("sandbox", "local backend") in checks and ("accelerators", "cuda devices") in checks


def test_core_install_names_the_extra_a_command_needs(core_venv: Path) -> None:
    for args, extra in (
        (("run", "sql-v0", "-n", "1"), "sql"),
        (("sql", "best-of-n", "--agent", "oracle", "-n", "1"), "sql"),
        (("train", "examples/configs/smoke_copy_digits.toml"), "train"),
        (("model", "tiny", "--out", "tiny-model"), "train"),
        (("run", "beam-statics-v0", "--agent", "openai", "-n", "1"), "llm"),
    ):
        done = verigym(core_venv, *args, ok=False)
        assert done.returncode == 1 and f"pip install 'verigym[{extra}]'" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    imported = run([str(core_venv / "bin" / "python"), "-c", "from verigym.trainer import Trainer"], cwd=core_venv.parent, ok=False)
    assert "MissingExtraError" in imported.stderr and "pip install 'verigym[train]'" in imported.stderr


def test_sql_extra_install_runs_sql(sql_venv: Path) -> None:
    assert "sqlglot" in installed(sql_venv) and "torch" not in installed(sql_venv)
    envs = {row["name"]: row for row in json.loads(verigym(sql_venv, "list", "--json").stdout)["envs"]}
    assert envs["sql-v0"]["install"] is None
    summary = verigym(sql_venv, "run", "sql-v0", "--agent", "oracle", "-n", "3", "--no-progress").stdout
    assert "success rate              1.000" in summary
    checks = {(c["section"], c["name"]): c for c in json.loads(verigym(sql_venv, "doctor", "--json").stdout)}
    assert checks[("python extras", "sql")]["ok"] is True
    assert checks[("python extras", "docker")]["ok"] is False
