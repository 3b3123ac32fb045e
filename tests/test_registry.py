import subprocess
import sys
import textwrap

import pluggy
import pytest

import verigym
from verigym.plugins import DuplicateRegistrationError, EnvSpec, PolicySpec, RegistryError, get_registry, hookimpl
from verigym.plugins.hookspecs import PROJECT, VerigymHooks
from verigym.plugins.registry import Registry, accepted_policy_settings


class PluginA:
    @hookimpl
    def verigym_envs(self):
        return [EnvSpec("same-v0", "toy_env:AddEnv")]


class PluginB:
    @hookimpl
    def verigym_envs(self):
        return [EnvSpec("same-v0", "toy_env:AddEnv")]

    @hookimpl
    def verigym_policies(self):
        return [PolicySpec("p", "verigym.agents.scripted:OraclePolicy")]


def manager(*plugins):
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(VerigymHooks)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm


def test_duplicate_names_are_refused_naming_both_plugins():
    registry = Registry()
    with pytest.raises(DuplicateRegistrationError) as err:
        registry.load_plugin_manager(manager(("alpha", PluginA()), ("beta", PluginB())))
    assert "'alpha'" in str(err.value) and "'beta'" in str(err.value) and "same-v0" in str(err.value)


def test_each_spec_records_the_plugin_that_provided_it():
    registry = Registry()
    registry.load_plugin_manager(manager(("beta", PluginB())))
    assert registry.envs.get("same-v0").plugin == "beta"
    assert registry.policies.get("p").plugin == "beta"


def test_unknown_names_list_what_is_registered():
    with pytest.raises(RegistryError, match="registered: .*beam-statics-v0"):
        verigym.make("no-such-env-v0")


def test_env_ids_must_be_versioned():
    with pytest.raises(RegistryError, match="versioned"):
        Registry().envs.add(EnvSpec("Bad Name", "x:y"), "me")


def test_builtins_come_through_entry_points():
    registry = get_registry()
    assert registry.envs.get("beam-statics-v0").plugin == "builtin-envs"
    assert registry.policies.get("oracle").plugin == "builtin-agents"
    assert registry.plugins["builtin-envs"].startswith("verigym ")


def test_runtime_registration_is_visible_to_make(add_env):
    from toy_env import AddEnv

    verigym.register("toy-runtime-v0", AddEnv, description="test")
    try:
        env = verigym.make("toy-runtime-v0", max_turns=3)
        assert isinstance(env, AddEnv) and env.config.max_turns == 3
        with pytest.raises(DuplicateRegistrationError, match="<runtime>"):
            verigym.register("toy-runtime-v0", AddEnv)
    finally:
        verigym.plugins.reset_registry()


def test_a_third_party_entry_point_duplicating_a_builtin_is_refused(tmp_path):
    """A real distribution on sys.path whose entry point re-registers `beam-statics-v0`."""
    (tmp_path / "dup_plugin.py").write_text(
        textwrap.dedent(
            """
            from verigym.plugins import EnvSpec, hookimpl

            @hookimpl
            def verigym_envs():
                return [EnvSpec("beam-statics-v0", "dup_plugin:Nothing")]
            """
        )
    )
    info = tmp_path / "dup_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dup-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[verigym]\nimpostor = dup_plugin\n")
    result = subprocess.run(
        [sys.executable, "-m", "verigym", "list"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 1
    assert "'builtin-envs'" in result.stderr and "'impostor'" in result.stderr, result.stderr


def test_accepted_policy_settings_offers_only_what_a_policy_takes():
    offered = {"concurrent_calls": 8, "batch_size": 16, "no_such_setting": 1}
    assert accepted_policy_settings("vllm", offered) == {"concurrent_calls": 8}
    assert accepted_policy_settings("hf", offered) == {"batch_size": 16}
    assert accepted_policy_settings("oracle", offered) == {}
    with pytest.raises(RegistryError, match="no-such-policy"):
        accepted_policy_settings("no-such-policy", offered)
