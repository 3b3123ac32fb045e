"""The extras table (read from metadata or pyproject.toml), the errors that name an extra, `verigym list`'s
marks and `verigym doctor`'s checks, in process (tests/test_install.py does the same through real installs)."""

from __future__ import annotations

import argparse
import importlib.metadata

import pytest

from verigym.plugins import cli as plugins_cli
from verigym.plugins import doctor, extras, specs
from verigym.plugins.specs import EnvSpec, PolicySpec


@pytest.fixture
def from_pyproject(monkeypatch: pytest.MonkeyPatch):
    """Read the extras from the source tree's pyproject.toml, as an uninstalled checkout does."""

    def not_installed(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(extras.metadata, "requires", not_installed)
    extras.declared_extras.cache_clear()
    yield
    extras.declared_extras.cache_clear()


@pytest.fixture
def from_metadata(monkeypatch: pytest.MonkeyPatch):
    """Metadata lines as a built wheel writes them (markers, a self-reference, a platform marker)."""
    lines = [
        "gymnasium>=1.0",
        'sqlglot>=25; extra == "sql"',
        'transformers>=4.45; extra == "llm"',
        'verigym[llm]; extra == "train"',
        'torch==2.13.0; extra == "train"',
        'triton==3.7.1; extra == "kernels" and platform_system == "Linux"',
        'verigym[sql,train]; extra == "all"',
    ]
    monkeypatch.setattr(extras.metadata, "requires", lambda name: lines)
    extras.declared_extras.cache_clear()
    yield
    extras.declared_extras.cache_clear()


def test_pyproject_extras_match_the_commands(from_pyproject) -> None:
    table = extras.declared_extras()
    assert table["sql"] == ("sqlglot",)
    assert {"torch", "transformers", "tokenizers", "peft"} <= set(table["train"])  # llm expanded into train
    assert set(table["kernels"]) == {"torch", "triton"}
    assert {"trl", "datasets", "torch", "sqlglot"} <= set(table["bench"])
    assert "vllm" not in table["all"] and set(table["all"]) >= set(table["train"]) | set(table["integrations"])
    for module, extra in {"sqlglot": "sql", "torch": "train", "transformers": "llm", "triton": "kernels",
                          "datasets": "bench", "openenv": "openenv", "vllm": "vllm", "docker": "docker",
                          "ray": "ray"}.items():
        assert extras.extra_for_module(module) == extra, module
    assert extras.extra_for_module("no_such_package_anywhere") is None


def test_metadata_markers_and_self_references(from_metadata) -> None:
    table = extras.declared_extras()
    assert table == {"sql": ("sqlglot",), "llm": ("transformers",), "train": ("torch", "transformers"),
                     "kernels": ("triton",), "all": ("sqlglot", "torch", "transformers")}
    assert extras.extra_for_module("transformers.models") == "llm"
    with pytest.raises(LookupError, match="no extra named 'gpu'"):
        extras.missing("gpu")


def test_missing_extra_error_names_the_command() -> None:
    error = extras.MissingExtraError("env 'sql-v0'", "sql", ["sqlglot"])
    assert str(error) == "env 'sql-v0' needs the 'sql' extra (missing: sqlglot): pip install 'verigym[sql]'"
    assert isinstance(error, ImportError)
    assert "CPU build of torch==2.13.0" in str(extras.MissingExtraError("x", "train", ["torch"]))


def test_spec_build_names_the_extra_of_a_missing_package(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "needs_missing_pkg.py").write_text("import verigym_test_absent_package\n")
    (tmp_path / "wrong_inner_import.py").write_text("import verigym.envs.no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(extras, "missing", lambda extra: ["sqlglot"])
    monkeypatch.setattr(specs, "missing", lambda extra: ["sqlglot"])
    with pytest.raises(extras.MissingExtraError, match=r"env 'x-v0' needs the 'sql' extra \(missing: sqlglot\): pip install 'verigym\[sql\]'"):
        EnvSpec("x-v0", "needs_missing_pkg:Env", extra="sql").build()
    with pytest.raises(ModuleNotFoundError) as caught:  # a bug inside verigym stays a plain import error
        EnvSpec("y-v0", "wrong_inner_import:Env", extra="sql").build()
    assert not isinstance(caught.value, extras.MissingExtraError)

    def factory() -> None:
        import torch_absent_for_this_test  # noqa: F401

    with pytest.raises(extras.MissingExtraError, match="policy 'p' needs the 'train' extra"):
        PolicySpec("p", factory, extra="train").build()


def test_list_marks_an_env_whose_extra_is_missing(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(plugins_cli, "missing", lambda extra: ["sqlglot"] if extra == "sql" else [])
    assert plugins_cli.cmd_list(argparse.Namespace(json=False)) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert lines["sql-v0"].endswith("[not installed: pip install 'verigym[sql]']")
    assert "not installed" not in lines["beam-statics-v0"]


def test_doctor_gives_a_command_for_every_missing_part(capsys) -> None:
    checks = doctor.run_checks()
    sections = {check.section for check in checks}
    assert sections == {"python extras", "sandbox", "programs", "accelerators"}
    names = {check.name for check in checks}
    assert {"sql", "train", "docker engine", "bubblewrap", "iverilog", "yosys", "chromium",
            "triton interpreter", "vllm", "cuda devices"} <= names
    assert [check.name for check in checks if not check.ok and not check.fix] == []
    doctor.print_report(checks)
    out = capsys.readouterr().out
    assert "parts usable here" in out and all(check.name in out for check in checks)
