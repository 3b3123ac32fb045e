"""Oracle episodes/s through `verigym serve` (OpenEnv protocol, real openenv-core client) with 1 and 64
clients, beside in-process play of the same episodes in the same run (the ratio is the server's overhead).

The server runs as its own process (`verigym serve ENV`) on 127.0.0.1; the clients replay the oracle's
actions, recorded in-process first, and every episode's total reward is checked against in-process.

    python benchmarks/openenv_server.py [--env beam-statics-v0] [--episodes 256] [--clients 1 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

import verigym


def oracle_episodes(env_id: str, seeds: range) -> tuple[list[tuple[int, list[str], float]], float]:
    """(seed, actions, total reward) per episode played in-process by the oracle, and the episodes/s."""
    env = verigym.make(env_id)
    episodes = []
    start = time.perf_counter()
    try:
        for seed in seeds:
            env.reset(seed=seed)
            actions, total, done = [], 0.0, False
            while not done:
                action = env.oracle_action()
                _, reward, terminated, truncated, _ = env.step(action)
                actions.append(action)
                total += float(reward)
                done = terminated or truncated
            episodes.append((seed, actions, total))
    finally:
        env.close()
    return episodes, len(seeds) / (time.perf_counter() - start)


async def through_server(url: str, episodes: list[tuple[int, list[str], float]], clients: int) -> float:
    """Episodes/s with `clients` concurrent openenv-core clients, each on its own session."""
    from openenv.core.generic_client import GenericEnvClient

    async def worker(share: list[tuple[int, list[str], float]]) -> None:
        async with GenericEnvClient(base_url=url, message_timeout_s=300) as client:
            for seed, actions, expected in share:
                await client.reset(seed=seed)
                total = 0.0
                for action in actions:
                    total += (await client.step({"text": action})).reward or 0.0
                if abs(total - expected) > 1e-12:
                    raise AssertionError(f"seed {seed}: {total} through the server, {expected} in-process")

    shares = [episodes[i::clients] for i in range(clients)]
    start = time.perf_counter()
    await asyncio.gather(*(worker(share) for share in shares if share))
    return len(episodes) / (time.perf_counter() - start)


def start_server(env_id: str, max_sessions: int) -> tuple[subprocess.Popen, str, object]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile("w+")
    cmd = [sys.executable, "-m", "verigym", "serve", env_id, "--port", str(port), "--max-sessions", str(max_sessions)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"`{' '.join(cmd)}` exited: {log.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"the server at {url} did not answer within 180 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="beam-statics-v0", help="an env that needs no sandbox setup")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + args.episodes)
    episodes, in_process = oracle_episodes(args.env, seeds)
    proc, url, log = start_server(args.env, max(args.clients))
    try:
        rows = [("in-process (oracle, 1 thread)", in_process)]
        for clients in args.clients:
            rows.append((f"server, {clients} client(s)", asyncio.run(through_server(url, episodes, clients))))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    print(f"{args.env}: {args.episodes} oracle episodes, {os.cpu_count()} CPUs, rewards checked against in-process")
    print(f"{'case':<32}{'episodes/s':>12}{'vs in-process':>16}")
    for case, rate in rows:
        print(f"{case:<32}{rate:>12.1f}{rate / in_process:>15.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
