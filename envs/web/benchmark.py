"""Throughput of the web envs: oracle steps/s and episode starts/s in `text` and `browser` mode, each beside a
bare HTTP GET of the same page on the same server, measured in the same run.

Rates are wall-clock (Chromium works in other processes, so CPU time of this one would flatter it).
`throughput()` returns rows for `benchmarks/env_throughput.py`; `python -m verigym.envs.web.benchmark` prints
them. Browser rows are left out, with a note on stderr, where Chromium cannot start.
"""

from __future__ import annotations

import http.client
import sys
import time
from typing import Any

from verigym.envs.web.env import WebEnv, WebForumEnv, WebShopEnv
from verigym.envs.web.scripted import play_oracle

SITES: tuple[type[WebEnv], ...] = (WebShopEnv, WebForumEnv)


def throughput(seconds: float = 2.0) -> list[dict[str, Any]]:
    """Rows {env, case, ops_per_s, baseline, baseline_ops_per_s, latency_ms}; each case runs about `seconds`."""
    rows: list[dict[str, Any]] = []
    modes = ["text"]
    try:
        from verigym.envs.web.chromium import shared_host

        shared_host()
        modes.append("browser")
    except Exception as exc:  # noqa: BLE001 - reported, the text rows still stand
        print(f"web benchmark: browser mode skipped ({exc})", file=sys.stderr)
    for env_type in SITES:
        for mode in modes:
            env = env_type(mode=mode)
            try:
                bare = bare_get_rate(env, seconds)
                base = "bare HTTP GET of the home page"
                rows.append(_row(env.env_id, f"{mode}: oracle steps", step_rate(env, seconds), base, bare))
                rows.append(_row(env.env_id, f"{mode}: episode start (reset)", reset_rate(env, seconds), base, bare))
            finally:
                env.close()
    return rows


def _row(env_id: str, case: str, rate: float, baseline: str, baseline_rate: float) -> dict[str, Any]:
    return {"env": env_id, "case": case, "ops_per_s": rate, "baseline": baseline, "baseline_ops_per_s": baseline_rate,
            "latency_ms": 1000.0 / rate}


def bare_get_rate(env: WebEnv, seconds: float) -> float:
    """GETs/s of `/` on a fresh episode's server with the agent's session cookie (one connection each)."""
    env.reset(seed=0)
    assert env.server is not None
    cookie = f"sid={_session_cookie(env)}"
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        connection = http.client.HTTPConnection("127.0.0.1", env.server.port, timeout=10)
        connection.request("GET", "/", headers={"Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200 and b"Log out" in response.read()
        connection.close()
        done += 1
    return done / (time.perf_counter() - start)


def _session_cookie(env: WebEnv) -> str:
    if env.config.mode == "text":
        return env.backend.browser.cookies["sid"]  # type: ignore[union-attr]
    cookies = env._chromium.host.call(lambda _b: env._chromium.context.cookies())
    return next(c["value"] for c in cookies if c["name"] == "sid")


def step_rate(env: WebEnv, seconds: float) -> float:
    """Oracle steps/s over whole episodes (resets not timed)."""
    steps, busy, seed = 0, 0.0, 0
    while busy < seconds:
        env.reset(seed=seed)
        start = time.perf_counter()
        played = play_oracle(env)
        busy += time.perf_counter() - start
        steps += len(played.rewards)
        seed += 1
    return steps / busy


def reset_rate(env: WebEnv, seconds: float) -> float:
    """Episode starts/s: seed the database, start the server, sign in, open the home page."""
    done, seed, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset(seed=seed)
        done, seed = done + 1, seed + 1
    return done / (time.perf_counter() - start)


if __name__ == "__main__":
    for row in throughput(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0):
        print(f"{row['env']:<14} {row['case']:<30} {row['ops_per_s']:8.1f}/s ({row['latency_ms']:7.1f} ms)  "
              f"{row['baseline']}: {row['baseline_ops_per_s']:8.1f}/s  ratio {row['ops_per_s'] / row['baseline_ops_per_s']:.3f}")
