"""Browser mode with real Chromium: the same observations and outcomes as text mode for the same actions on
the same seed, and the oracle's full reward on 20 seeds per site."""

from __future__ import annotations

from typing import Any

import pytest

from verigym.envs.web.grammar import format_action

pytestmark = pytest.mark.timeout(240)


def _lockstep(text_env: Any, browser_env: Any, actions: list[str]) -> list[tuple]:
    """Step both envs with each action; assert identical messages, rewards and flags; return the outcomes."""
    outcomes = []
    for action in actions:
        a, b = text_env.step(action), browser_env.step(action)
        assert a[0] == b[0], f"observations differ after {action!r}:\n{a[0][0]['content']}\n---\n{b[0][0]['content']}"
        assert a[1:4] == b[1:4], (action, a[1:4], b[1:4])
        assert a[4]["reward_components"] == b[4]["reward_components"]
        outcomes.append(a[1:4])
        if a[2] or a[3]:
            break
    return outcomes


@pytest.mark.parametrize("site", ["shop", "forum"])
def test_oracle_full_reward_on_20_seeds_in_browser_mode_matching_text_mode(site: str, chromium: Any, envs: Any) -> None:
    text_env, browser_env = envs(site, "text"), envs(site, "browser")
    for seed in range(20):
        assert text_env.reset(seed=seed) == browser_env.reset(seed=seed)
        outcome = None
        while outcome is None or not (outcome[1] or outcome[2]):
            action = text_env.oracle_action()
            browser_env.plan_index += 1
            (outcome,) = _lockstep(text_env, browser_env, [action])
        assert outcome == (1.0, True, False), (site, seed, text_env.task.kind)


def test_exploration_gives_identical_observations(chromium: Any, envs: Any, task_of: Any) -> None:
    """Failed actions, search with filters, pagination, options, checkboxes, go_back and scroll, in both modes."""
    text_env, browser_env = envs("shop", "text"), envs("shop", "browser")
    task = task_of("shop", "purchase", 3)
    text_env.reset(options={"task": task})
    browser_env.reset(options={"task": task})
    actions = ['click("999")', 'goto("/search?category=shirts")', 'fill("7", "wrinkle-free ~ *x_y.z-")', 'select_option("8", "mugs")',
               'fill("9", "80")', 'click("10")', "go_back()", 'click("5")', 'fill("7", "  12 Rue d\'Été ")', "scroll(0, 400)",
               "go_back()", "noop()", 'goto("/search?page=2")', 'goto("/product/3")', 'select_option("9", "blue")',
               'goto("/product/999")', 'goto("/orders/1/cancel")']
    _lockstep(text_env, browser_env, actions)
    forum_text, forum_browser = envs("forum", "text"), envs("forum", "browser")
    task = task_of("forum", "notifications", 1)
    forum_text.reset(options={"task": task})
    forum_browser.reset(options={"task": task})
    box = 'click("{bid}")'
    _lockstep(forum_text, forum_browser, ['goto("/settings")'])
    bid = forum_text._find("name:email_notifications")
    _lockstep(forum_text, forum_browser, [box.format(bid=bid), box.format(bid=bid), box.format(bid=bid),
                                          format_action("fill", forum_text._find("name:signature"), "line one\nline two"),
                                          format_action("click", forum_text._find("button:Save settings")),
                                          'goto("/t/1?page=2")', 'goto("/b/help?page=2")'])
    assert forum_text.state()["users"][task.user_id]["signature"] == "line one line two"
    _lockstep(forum_text, forum_browser, ['send_msg_to_user("Done.")'])


def test_screenshot_in_info_when_asked(chromium: Any) -> None:
    from verigym.envs.web.env import WebShopEnv

    env = WebShopEnv(mode="browser", screenshot=True)
    try:
        env.reset(seed=0)
        info = env.step('goto("/search")')[4]
        assert info["screenshot"][:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        env.close()
