"""`verigym serve`: the real openenv-core client plays oracle episodes against a live server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

pytest.importorskip("openenv.core", reason="openenv-core is not installed (pip install 'verigym[openenv]')")

from openenv.core.generic_client import GenericEnvClient  # noqa: E402

from integration_helpers import play_oracle, readme_example, replay, thread_server  # noqa: E402
import verigym  # noqa: E402
from verigym.integrations.openenv_server import ServeSettings  # noqa: E402

BEAM = "beam-statics-v0"


def status(url: str) -> dict:
    return httpx.get(f"{url}/verigym/status", timeout=60).json()  # generous: CI machines can be very busy


def wait_for(url: str, predicate, timeout_s: float = 60.0) -> dict:
    """Poll the server's status until `predicate(status)` holds; fail with the last status otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = status(url)
        if predicate(current):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"server status never satisfied the condition within {timeout_s} s: {current}")
        time.sleep(0.1)


def idle(s: dict) -> bool:
    return s["active_sessions"] == 0 and s["envs_live"] == 0 and s["sandbox_sessions_out"] == 0


@pytest.mark.timeout(180)
def test_oracle_episodes_match_in_process(beam_server):
    for seed in range(6):
        episode = play_oracle(BEAM, seed)
        steps = asyncio.run(replay(beam_server, episode))
        assert steps == episode.steps, f"seed {seed}: server and in-process steps differ"
        assert episode.total > 0  # the oracle solves it: a comparison of all-zero rewards would prove little
    wait_for(beam_server, idle)


@pytest.mark.timeout(180)
def test_64_concurrent_sessions_and_the_65th_is_refused(beam_server):
    episodes = [play_oracle(BEAM, 1000 + i) for i in range(64)]

    async def run() -> None:
        clients = [GenericEnvClient(base_url=beam_server, message_timeout_s=120) for _ in episodes]
        try:
            openings = await asyncio.gather(*(c.reset(seed=e.seed) for c, e in zip(clients, episodes)))
            assert [o.observation["messages"] for o in openings] == [e.opening for e in episodes]
            assert status(beam_server)["active_sessions"] == 64
            # The 65th connection is told why and closed (read raw: the client may see only the close).
            async with websockets.connect(beam_server.replace("http", "ws") + "/ws") as extra:
                refusal = json.loads(await asyncio.wait_for(extra.recv(), 60))
            assert refusal["type"] == "error" and refusal["data"]["code"] == "CAPACITY_REACHED", refusal

            async def finish(client, episode):
                steps = []
                for action in episode.actions:
                    r = await client.step({"text": action})
                    steps.append((r.observation["messages"], r.reward, r.done, r.observation["reward_components"]))
                return steps

            results = await asyncio.gather(*(finish(c, e) for c, e in zip(clients, episodes)))
            for episode, steps in zip(episodes, results):
                assert steps == episode.steps, f"seed {episode.seed}: server and in-process steps differ"
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    asyncio.run(run())
    s = wait_for(beam_server, idle)
    assert s["envs_opened"] >= 64


@pytest.mark.timeout(120)
def test_client_that_vanishes_mid_episode_leaks_nothing(beam_server):
    episode = play_oracle(BEAM, 7)
    assert len(episode.actions) >= 2, "the oracle's first turn is a check, so the episode is mid-way after it"

    async def vanish() -> None:
        client = GenericEnvClient(base_url=beam_server)
        await client.reset(seed=episode.seed)
        await client.step({"text": episode.actions[0]})
        assert status(beam_server)["envs_live"] >= 1
        client._ws.transport.abort()  # no close message, no closing handshake: the TCP connection just drops

    asyncio.run(vanish())
    wait_for(beam_server, idle)


@pytest.mark.timeout(60)
def test_http_routes_follow_openenv(beam_server):
    assert httpx.get(f"{beam_server}/health").json() == {"status": "healthy"}
    schema = httpx.get(f"{beam_server}/schema").json()
    assert "text" in schema["action"]["properties"] and "messages" in schema["observation"]["properties"]
    reset = httpx.post(f"{beam_server}/reset", json={"seed": 5}).json()
    assert reset["observation"]["messages"] == play_oracle(BEAM, 5).opening
    assert reset["done"] is False
    assert httpx.get(f"{beam_server}/metadata").json()["name"] == BEAM
    bad = httpx.post(f"{beam_server}/step", json={"action": {"txet": "x"}})
    assert bad.status_code == 422  # OpenEnv validates the action against the schema


@pytest.mark.timeout(120)
def test_idle_session_is_closed():
    with thread_server(ServeSettings(BEAM, max_sessions=2, idle_timeout_s=0.5)) as (url, _app):

        async def linger() -> None:
            async with GenericEnvClient(base_url=url) as client:
                await client.reset(seed=1)
                assert status(url)["envs_live"] == 1
                wait_for(url, idle, timeout_s=30)  # the reaper checks every 5 s at most
                with pytest.raises(RuntimeError, match="closed"):
                    await client.step({"text": "anything"})

        asyncio.run(linger())


def without_timing(steps: list) -> list:
    return [(m, r, d, {k: v for k, v in c.items() if k != "efficiency"}) for m, r, d, c in steps]


@pytest.fixture(scope="module")
def code_server(local_providers):
    from verigym.plugins.registry import get_registry

    if "code-python-v0" not in get_registry().envs.names():
        pytest.skip("code-python-v0 is not registered in this tree")
    with thread_server(ServeSettings("code-python-v0", max_sessions=4, sandbox="local", sandbox_pool=2)) as (url, _):
        yield url


@pytest.mark.timeout(240)
def test_sandboxed_env_oracle_matches_and_vanishing_releases_the_sandbox(code_server, local_providers):
    for seed in range(2):
        episode = play_oracle("code-python-v0", seed, providers=local_providers)
        assert episode.total > 0
        # `efficiency` is measured wall-clock (weight 0 by default), so it differs run to run even in-process;
        # everything else, the reward included, must be identical.
        assert without_timing(asyncio.run(replay(code_server, episode))) == without_timing(episode.steps)
    wait_for(code_server, idle)

    episode = play_oracle("code-python-v0", 5, providers=local_providers)

    async def vanish() -> None:
        client = GenericEnvClient(base_url=code_server)
        await client.reset(seed=episode.seed)
        assert status(code_server)["sandbox_sessions_out"] == 1
        client._ws.transport.abort()

    asyncio.run(vanish())
    wait_for(code_server, idle)


@pytest.mark.timeout(60)
def test_readme_example(beam_server, capsys):
    namespace: dict = {}
    exec(readme_example("openenv").replace("http://127.0.0.1:8000", beam_server), namespace)
    env = verigym.make(BEAM)
    try:
        env.reset(seed=3)
        _, expected, done, *_ = env.step("<answer>R_A = P/2, R_B = P/2</answer>")
    finally:
        env.close()
    assert namespace["total"] == expected
    assert "episode reward:" in capsys.readouterr().out
