"""Shared fixtures for the web env tests: one Chromium for the whole session, one env per (site, mode)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from verigym.envs.web.env import WebEnv, WebForumEnv, WebShopEnv

SITES = {"shop": WebShopEnv, "forum": WebForumEnv}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The shared headless Chromium (skipped, with the reason, where it cannot start)."""
    from verigym.envs.web.chromium import BrowserUnavailable, close_shared_host, shared_host

    try:
        host = shared_host()
    except BrowserUnavailable as exc:
        pytest.skip(f"browser mode unavailable: {exc}")
    yield host
    close_shared_host()


@pytest.fixture(params=["text", "browser"])
def mode(request: pytest.FixtureRequest) -> str:
    """Each hack test runs in both modes."""
    if request.param == "browser":
        request.getfixturevalue("chromium")
    return request.param


@pytest.fixture(scope="session")
def envs() -> Iterator[Any]:
    """`envs(site, mode)`: a long-lived env per (site, mode), closed at the end of the session."""
    made: dict[tuple[str, str], WebEnv] = {}

    def get(site: str, mode: str) -> WebEnv:
        if (site, mode) not in made:
            made[(site, mode)] = SITES[site](mode=mode)
        return made[(site, mode)]

    yield get
    for env in made.values():
        env.close()


@pytest.fixture(scope="session")
def task_of() -> Any:
    """`task_of(site, kind, seed=0)`: the task of that kind generated from `seed`."""
    from verigym.envs.web.forum.tasks import generate_task as forum_task
    from verigym.envs.web.shop.tasks import generate_task as shop_task

    def make(site: str, kind: str, seed: int = 0) -> Any:
        return (shop_task if site == "shop" else forum_task)(seed, (kind,))

    return make
