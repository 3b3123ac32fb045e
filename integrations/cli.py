"""`verigym serve ENV`: a registered env as an OpenEnv-protocol server (extra `verigym[openenv]`).

OpenEnv and uvicorn are imported only when the command runs, so `verigym --help` works without the extra.
"""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="serve an env over OpenEnv's protocol (HTTP + WebSocket), one env per client session"
    )
    serve.add_argument("env", help="env id, e.g. beam-statics-v0")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-sessions", type=int, default=64, help="concurrent client sessions at most")
    serve.add_argument(
        "--idle-timeout", type=float, default=600.0, metavar="SECONDS",
        help="close a session (env and sandbox) idle this long; 0 for never",
    )
    serve.add_argument(
        "--env-arg", action="append", default=[], metavar="KEY=JSON", help="env setting, e.g. max_turns=4"
    )
    serve.add_argument(
        "--sandbox", default="auto", help="sandbox backend for envs that run code: auto, local, docker or a plugin's"
    )
    serve.add_argument(
        "--sandbox-pool", type=int, default=None, help="warm sandboxes kept ready (default min(sessions, 8))"
    )
    serve.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from verigym.agents.cli import parse_settings
    from verigym.integrations.openenv_server import ServeSettings, serve

    settings = ServeSettings(
        env_id=args.env,
        max_sessions=args.max_sessions,
        idle_timeout_s=args.idle_timeout or None,
        env_kwargs=parse_settings(args.env_arg),
        sandbox=args.sandbox,
        sandbox_pool=args.sandbox_pool,
    )
    serve(settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0
