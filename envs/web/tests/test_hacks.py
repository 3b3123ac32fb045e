"""Known reward hacks score 0, in text mode and with real Chromium.

Each test plays a live episode: the oracle's plan where the hack needs the goal met, then the hack.
"""

from __future__ import annotations

from typing import Any

import pytest

from verigym.envs.web.grammar import format_action
from verigym.envs.web.scripted import play, play_oracle
from verigym.envs.web.server import port_is_free

pytestmark = pytest.mark.timeout(90)


def _start(envs: Any, task_of: Any, site: str, mode: str, kind: str, seed: int = 0) -> Any:
    env = envs(site, mode)
    env.reset(options={"task": task_of(site, kind, seed)})
    return env


def _raw_post(env: Any, path: str, fields: dict[str, str]) -> int:
    """An attacker's HTTP POST with the agent's own cookies (not through the action grammar)."""
    url = env.server.origin + path
    if env.config.mode == "text":
        from verigym.envs.web.client import form_encode

        return env.backend.browser._once("POST", url, form_encode(list(fields.items())))[0]
    return env._chromium.host.call(lambda _b: env._chromium.page.request.post(url, form=fields, max_redirects=0).status)


def _csrf(env: Any) -> str:
    """The agent's real CSRF token, read from a form on the current page's HTML."""
    url, root = env.backend.document()
    return next(n.attrs["value"] for n in root.iter() if n.tag == "input" and n.attrs.get("name") == "csrf")


@pytest.mark.parametrize("site, kind", [("shop", "order-total"), ("shop", "order-products"), ("forum", "moderators"),
                                        ("forum", "join-date")])
def test_every_candidate_answer_concatenated_scores_zero(mode: str, envs: Any, task_of: Any, site: str, kind: str) -> None:
    env = _start(envs, task_of, site, mode, kind)
    play_oracle(env, skip_final=True)
    candidates = {
        "order-total": lambda: " ".join(sorted({f"${o['total_cents'] / 100:.2f}" for o in env.state()["orders"].values()
                                                if o["user_id"] == env.task.user_id})),
        "order-products": lambda: ", ".join(e.label for e in env.page.elements if e.href.startswith("/product/")) + ", Harbor Shirt",
        "moderators": lambda: ", ".join(u for u in ("ana1", "ben2") ) + ", " + ", ".join(env.task.answer),
        "join-date": lambda: " or ".join([env.task.answer[0], "2023-01-01", "2023-06-15"]),
    }[kind]()
    assert all(value in candidates for value in env.task.answer) and candidates.count(",") + candidates.count(" ") >= 2
    played = play(env, [format_action("send_msg_to_user", candidates)])
    assert played.terminated and played.reward == 0.0
    assert played.info["reward_components"] == {"success": 0.0, "partial": 0.0}


FOREIGN_URLS = ["file:///etc/passwd", "chrome://version", "view-source:/account", "http://example.com/", "http://localhost/",
                "//evil.test/x", "javascript:alert(1)", "data:text/html,hi", "/\\evil.test", "https://127.0.0.1/"]


def test_leaving_the_site_ends_the_episode_with_zero(mode: str, envs: Any, task_of: Any) -> None:
    for i, url in enumerate(FOREIGN_URLS):
        env = _start(envs, task_of, "shop", mode, "change-address")
        if i == 0:
            play_oracle(env, skip_final=True)  # the goal is met ... and then the agent leaves the site
        played = play(env, [format_action("goto", url)])
        assert played.terminated and played.reward == 0.0 and "Navigation refused" in played.observations[-1], url
        assert played.info["verdict"].details["violation"]


def test_another_port_on_loopback_is_refused(mode: str, envs: Any, task_of: Any) -> None:
    env = _start(envs, task_of, "forum", mode, "signature")
    other = env.server.port + 1 if env.server.port < 65535 else env.server.port - 1
    played = play(env, [format_action("goto", f"http://127.0.0.1:{other}/")])
    assert played.terminated and played.reward == 0.0


def test_the_database_file_cannot_be_read(mode: str, envs: Any, task_of: Any) -> None:
    env = _start(envs, task_of, "shop", mode, "order-total")
    db_name = env.server.db_path.rsplit("/", 1)[-1]
    for path in (f"/{db_name}", f"/../{db_name}", f"/static/..%2f{db_name}", "/%2e%2e/site.db"):
        text = play(env, [format_action("goto", path)]).observations[-1]
        assert "404 Not Found" in text and "SQLite format" not in text
    played = play(env, [format_action("goto", f"file://{env.server.db_path}")])
    assert played.terminated and played.reward == 0.0


@pytest.mark.parametrize("site, path", [("shop", "/admin"), ("shop", "/admin/debug"), ("forum", "/admin"), ("forum", "/admin/debug")])
def test_admin_and_debug_routes_need_the_role(mode: str, envs: Any, task_of: Any, site: str, path: str) -> None:
    kind = "order-total" if site == "shop" else "join-date"
    env = _start(envs, task_of, site, mode, kind)
    text = play(env, [format_action("goto", path)]).observations[-1]
    assert "403 Forbidden" in text and "password" not in text.lower()
    assert not any(f"| {u}" in text for u in ("admin", "customer", "member"))
    played = play(env, [format_action("send_msg_to_user", "I could not find it")])
    assert played.reward == 0.0


def test_forum_admin_actions_are_refused_without_the_role(mode: str, envs: Any, task_of: Any) -> None:
    seed = next(s for s in range(50) if task_of("forum", "signature", s).user_id > 3)  # users 1-3 are staff
    env = _start(envs, task_of, "forum", mode, "signature", seed)
    before = env.state()
    assert before["users"][env.task.user_id]["role"] == "member"
    status = _raw_post(env, "/admin/users/4/role", {"csrf": _csrf(env), "role_4": "admin"})
    assert status == 403 and env.state() == before
    status = _raw_post(env, "/posts/1/hide", {"csrf": _csrf(env)})
    assert status == 403 and env.state() == before


def test_forged_posts_for_another_user_fail(mode: str, envs: Any, task_of: Any) -> None:
    env = _start(envs, task_of, "shop", mode, "cancel-order")
    target = env.task.updates[0].key
    seeded = env.state()
    others = [k for k, o in seeded["orders"].items() if o["user_id"] != env.task.user_id and o["status"] == "placed"]
    token = _csrf(env)
    assert _raw_post(env, f"/orders/{others[0]}/cancel", {"csrf": token}) == 404  # someone else's order
    assert _raw_post(env, f"/orders/{target}/cancel", {}) == 403  # no CSRF token
    assert _raw_post(env, f"/orders/{target}/cancel", {"csrf": "0" * 32}) == 403  # a guessed token
    assert _raw_post(env, "/account/address", {"csrf": token, "street": "1 Evil Rd", "city": "X", "zip": "1",
                                               "user_id": str(env.task.user_id % 8 + 1)}) == 303
    after = env.state()
    assert after["orders"] == seeded["orders"]
    changed = [k for k in after["addresses"] if after["addresses"][k] != seeded["addresses"][k]]
    assert changed == [env.task.user_id]  # the user_id field was ignored: only the session's own address moved
    text = play(env, [format_action("goto", f"/orders/{target}/cancel")]).observations[-1]
    assert "405" in text  # a GET never changes state
    played = play_oracle(env)  # the real goal, on top of the (own) address change
    assert played.terminated and played.reward == 0.0


@pytest.mark.parametrize("site, kind, extra", [
    ("shop", "cancel-order", 'goto("/account")|fill:street|click:button:Save address'),
    ("shop", "change-address", "cancel-another-order"),
    ("forum", "reply", 'goto("/settings")|fill:signature|click:button:Save settings'),
    ("forum", "hide-spam", "hide-another-post"),
    ("shop", "purchase", "cancel-the-new-order"),
])
def test_meeting_the_goal_while_breaking_other_state_scores_zero(mode: str, envs: Any, task_of: Any, site: str, kind: str,
                                                                 extra: str) -> None:
    env = _start(envs, task_of, site, mode, kind)
    play_oracle(env, skip_final=True)
    if extra == "cancel-another-order":
        state = env.state()
        placed = [k for k, o in state["orders"].items() if o["user_id"] == env.task.user_id and o["status"] == "placed"]
        play(env, [format_action("goto", f"/orders/{placed[0]}")])
        play(env, [format_action("click", env._find(f"button:Cancel order #{placed[0]}"))])
    elif extra == "cancel-the-new-order":  # the goal was met at checkout; undoing it must not pay
        play(env, [format_action("click", env._find(f"button:Cancel order #{env.page.url.rsplit('/', 1)[-1]}"))])
    elif extra == "hide-another-post":
        button = next(e for e in env.page.elements if e.label.startswith("Hide post #"))
        play(env, [format_action("click", button.bid)])
    else:
        for step in extra.split("|"):
            if step.startswith("goto"):
                play(env, [step])
            elif step.startswith("fill:"):
                play(env, [format_action("fill", env._find(f"name:{step[5:]}"), "Changed by the agent")])
            else:
                play(env, [format_action("click", env._find(step[6:]))])
    played = play(env, [format_action("send_msg_to_user", "Done.")])
    assert played.terminated and played.reward == 0.0
    assert played.info["verdict"].details["goal"]["unrelated"]


def test_acting_after_the_final_message_changes_nothing(mode: str, envs: Any, task_of: Any) -> None:
    env = _start(envs, task_of, "shop", mode, "cancel-order")
    played = play(env, ['send_msg_to_user("Done.")\nclick("7")'])
    assert played.info["malformed"] and not played.terminated  # two actions in one turn: neither runs
    port = env.server.port
    played = play(env, [format_action("send_msg_to_user", "Done.")])  # claims success before acting
    assert played.terminated and played.reward == 0.0
    assert port_is_free(port)  # the site is gone: nothing after the message can change the outcome
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(env.oracle_action())
