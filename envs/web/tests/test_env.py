"""The web envs as Gymnasium envs: conformance, registration, determinism, errors shown to the agent, budgets,
server lifecycle (a crashed server is an errored episode, never a hang; close() stops it)."""

from __future__ import annotations

import os

import pytest
from gymnasium.utils.env_checker import check_env

from verigym.agents.runner import run_episode, run_episodes
from verigym.agents.scripted import OraclePolicy, RandomPolicy
from verigym.envs.web.env import WebForumEnv, WebShopEnv
from verigym.envs.web.server import WebServerError, port_is_free
from verigym.plugins.registry import make


@pytest.mark.parametrize("env_type", [WebShopEnv, WebForumEnv])
def test_check_env_passes(env_type) -> None:
    env = env_type()
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_registered_and_configurable() -> None:
    env = make("web-shop-v0", kinds=["purchase"], max_turns=12)
    try:
        assert isinstance(env, WebShopEnv)
        env.reset(seed=5)
        assert env.task.kind == "purchase" and env.config.max_turns == 12
    finally:
        env.close()
    assert isinstance(make("web-forum-v0"), WebForumEnv)
    with pytest.raises(ValueError, match="mode"):
        WebShopEnv(mode="firefox")
    with pytest.raises(TypeError, match="known settings"):
        WebShopEnv(no_such_setting=1)


def test_reset_is_deterministic_and_hides_the_port(envs) -> None:
    a, b = WebForumEnv(), WebForumEnv()
    try:
        assert a.reset(seed=7) == b.reset(seed=7)
        assert a.server.port != b.server.port
        assert str(a.server.port) not in a.transcript[1]["content"]
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("action, expected", [
    ("I think I should click", "no action found"),
    ('click("1")\nclick("2")', "2 actions"),
    ("click(1, 2)", "takes 1 argument"),
    ('press("Enter")', "unknown action 'press'"),
    ("fill(\"abc\", \"x\")", "element number"),
    ("click(__import__('os'))", "literal"),
    ('goto("/")  and more text', "unexpected text"),
])
def test_malformed_actions_are_observations(envs, action: str, expected: str) -> None:
    env = envs("shop", "text")
    env.reset(seed=1)
    messages, reward, terminated, truncated, info = env.step(action)
    assert expected in info["malformed"] and "Malformed action" in messages[0]["content"]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "URL: /" in messages[0]["content"]  # the page is shown again


def test_failed_actions_say_why(envs) -> None:
    env = envs("shop", "text")
    env.reset(seed=1)
    text = env.step('click("999")')[0][0]["content"]
    assert "Action failed: there is no element [999]" in text
    link = next(e.bid for e in env.page.elements if e.role == "link")
    assert "not a textbox" in env.step(f'fill("{link}", "x")')[0][0]["content"]
    assert "no previous page" in env.step("go_back()")[0][0]["content"]


def test_go_back_returns_to_the_previous_page(envs) -> None:
    env = envs("forum", "text")
    env.reset(seed=2)
    env.step('goto("/members")')
    env.step('goto("/search?q=tyres")')
    text = env.step("go_back()")[0][0]["content"]
    assert text.startswith("URL: /members")


def test_turn_budget_truncates_with_zero_reward() -> None:
    env = WebShopEnv(max_turns=2)
    try:
        env.reset(seed=3)
        assert env.step("noop()")[3] is False
        _, reward, terminated, truncated, _ = env.step("noop()")
        assert truncated and not terminated and reward == 0.0
    finally:
        env.close()


@pytest.mark.timeout(60)
def test_a_crashed_server_errors_the_episode_with_a_reason(mode, envs) -> None:
    env = envs("shop", mode)
    env.reset(seed=4)
    env.server.kill()
    with pytest.raises(WebServerError, match="stopped"):
        env.step('goto("/orders")')
    env.reset(seed=4)  # the env recovers: a fresh server for the next episode
    assert env.step('goto("/orders")')[0][0]["content"].startswith("URL: /orders")


def test_the_runner_records_a_crashed_server_as_errored() -> None:
    class CrashingShop(WebShopEnv):
        def on_turn(self, action: str):
            self.server.kill()
            return super().on_turn(action)

    env = CrashingShop()
    record = run_episode(env, OraclePolicy(), seed=0)
    env.close()
    assert record.dropped and "WebServerError" in (record.error or "") and "stopped" in record.error


def test_close_stops_the_server_and_removes_the_database() -> None:
    env = WebShopEnv()
    env.reset(seed=0)
    port, folder = env.server.port, env.server.dir
    assert not port_is_free(port) and os.path.exists(folder)
    env.close()
    assert port_is_free(port) and not os.path.exists(folder)
    env.close()  # idempotent


def test_runner_oracle_and_random_baselines() -> None:
    _, oracle = run_episodes("web-forum-v0", OraclePolicy(), n=6, seed=10, concurrency=2, progress=False)
    assert oracle.errored == 0 and oracle.mean_reward == 1.0
    _, rand = run_episodes("web-shop-v0", RandomPolicy(), n=6, seed=0, concurrency=2, progress=False,
                           env_kwargs={"max_turns": 6})
    assert rand.errored == 0 and rand.dropped_verifier == 0 and rand.success_rate < 0.5


def test_partial_credit_is_a_dense_component(task_of) -> None:
    from verigym.envs.web.grammar import format_action
    from verigym.envs.web.scripted import play

    task = task_of("shop", "purchase", 0)
    env = WebShopEnv(partial_weight=0.5)
    try:
        assert env.rubric.weights == {"success": 1.0, "partial": 0.5}
        env.reset(options={"task": task})
        wanted = dict(task.purchase.options)["color"]
        played = None
        for step in task.plan[:-1]:
            action = env.plan_action(step)
            env.plan_index += 1
            if step.target == "name:color":  # the right product, the wrong colour
                element = env.page.element(env._find("name:color"))
                action = format_action("select_option", element.bid, next(o for o in element.options if o != wanted))
            played = play(env, [action], played)
        played = play(env, ['send_msg_to_user("Bought it.")'], played)
        n = len(task.purchase.attributes) + len(task.purchase.options) + 1
        assert played.info["reward_components"] == {"success": 0.0, "partial": pytest.approx((n - 1) / n)}
        assert played.reward == pytest.approx(0.5 * (n - 1) / n)
    finally:
        env.close()


@pytest.mark.timeout(60)
def test_a_hung_server_errors_the_episode_instead_of_hanging(mode, envs, monkeypatch) -> None:
    import time

    from verigym.envs.web import client

    env = envs("forum", mode)
    env.reset(seed=4)
    monkeypatch.setattr(client, "REQUEST_TIMEOUT_S", 0.5)
    if mode == "browser":
        env._chromium.host.call(lambda _b: env._chromium.context.set_default_timeout(500))
    env.server._server.set_app(lambda environ, start_response: time.sleep(2) or [])
    started = time.monotonic()
    try:
        with pytest.raises(WebServerError):
            env.step('goto("/members")')
        assert time.monotonic() - started < 5
    finally:
        if mode == "browser":
            env._chromium.host.call(lambda _b: env._chromium.context.set_default_timeout(10_000))
    env.reset(seed=4)
    assert env.step('goto("/members")')[0][0]["content"].startswith("URL: /members")
