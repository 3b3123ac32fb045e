"""`verigym run` (play episodes, write Parquet, print a summary), `verigym show` (replay a file) and
`verigym model tiny` (build the tiny local model)."""

from __future__ import annotations

import argparse
import functools
import json
import textwrap

from verigym.agents.policy import SamplingParams
from verigym.agents.records import read_episodes
from verigym.agents.runner import run_episodes
from verigym.plugins.registry import accepted_policy_settings, make_policy


def add_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run an agent on an env for N seeded episodes")
    run.add_argument("env", help="env id, e.g. beam-statics-v0")
    run.add_argument("--agent", default="oracle", help="policy name (see `verigym list`)")
    run.add_argument("-n", type=int, default=10, help="number of episodes")
    run.add_argument("--seed", type=int, default=0, help="episode i uses seed SEED+i")
    run.add_argument("--concurrency", type=int, default=4, help="episodes played at once")
    run.add_argument("--out", help="write episodes to this Parquet file")
    run.add_argument("--env-arg", action="append", default=[], metavar="KEY=JSON", help="env setting, e.g. max_turns=4")
    run.add_argument("--agent-arg", action="append", default=[], metavar="KEY=JSON", help="policy setting, e.g. model=\"DIR\"")
    run.add_argument("--model", help="model directory (shorthand for --agent-arg model=DIR)")
    run.add_argument("--temperature", type=float, default=1.0)
    run.add_argument("--max-tokens", type=int, default=256)
    run.add_argument(
        "--sandbox", default="auto", help="sandbox backend for envs that run code: auto, local, docker or a plugin's"
    )
    run.add_argument(
        "--schedule", default="pipelined", choices=("pipelined", "lockstep"),
        help="pipelined (default: env steps overlap generation) or lockstep (sampled runs replay exactly)",
    )
    run.add_argument(
        "--tokenizer", metavar="MODEL_DIR",
        help="record token ids and loss masks with this model's tokenizer (for text-only agents such as oracle; e.g. SFT data)",
    )
    run.add_argument(
        "--ray", metavar="ADDRESS",
        help="run the envs on Ray actors: 'local' starts Ray here; 'auto', HOST:PORT or ray://HOST:PORT join a cluster",
    )
    run.add_argument("--ray-workers", type=int, default=2, metavar="N", help="env worker actors with --ray (default 2)")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(func=cmd_run)

    model = sub.add_parser("model", help="build local models (nothing is downloaded)")
    model_sub = model.add_subparsers(dest="model_command", metavar="KIND", required=True)
    tiny = model_sub.add_parser("tiny", help="a tiny random Qwen2 chat model with the bundled tokenizer")
    tiny.add_argument("--out", required=True, help="directory to write the model to")
    tiny.add_argument("--layers", type=int, default=2)
    tiny.add_argument("--hidden", type=int, default=128, help="hidden size; must be 64 x heads")
    tiny.add_argument("--heads", type=int, default=2)
    tiny.add_argument("--kv-heads", type=int, default=None, help="default: same as --heads")
    tiny.add_argument("--intermediate", type=int, default=None, help="MLP size (default 4 x hidden)")
    tiny.add_argument("--vocab-size", type=int, default=None)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(func=cmd_model_tiny)

    show = sub.add_parser("show", help="print the episodes of a Parquet file turn by turn")
    show.add_argument("file")
    show.add_argument("--episode", type=int, help="only this episode (row index)")
    show.add_argument("--width", type=int, default=100)
    show.set_defaults(func=cmd_show)


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """`KEY=VALUE` pairs; VALUE is JSON when it parses as JSON, else a plain string."""
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"setting {pair!r} must look like KEY=VALUE")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    agent_kwargs = parse_settings(args.agent_arg)
    if args.model:
        agent_kwargs["model"] = args.model
    if args.schedule == "pipelined":  # engines that batch concurrent calls themselves (vllm) get one per episode turn
        agent_kwargs = {**accepted_policy_settings(args.agent, {"concurrent_calls": args.concurrency}), **agent_kwargs}
    policy = make_policy(args.agent, **agent_kwargs)
    sampling = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens)
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    run = functools.partial(
        run_episodes,
        args.env,
        policy,
        n=args.n,
        seed=args.seed,
        concurrency=args.concurrency,
        out=args.out,
        sampling=sampling,
        env_kwargs=parse_settings(args.env_arg),
        progress=not args.no_progress,
        schedule=args.schedule,
        tokenizer=tokenizer,
    )
    if not args.ray:
        _, summary = run(sandbox=args.sandbox)
        print(summary.table())
        return 0
    from verigym.agents.ray_workers import RayEnvWorkers, RaySettings
    from verigym.sandbox.provider import SandboxSettings

    settings = RaySettings(address=args.ray, workers=args.ray_workers)
    with RayEnvWorkers(settings, SandboxSettings(backend=args.sandbox), concurrency=args.concurrency) as workers:
        _, summary = run(sandbox=None, workers=workers)
        nodes = len({p["node"] for p in workers.placement})
    print(summary.table())
    print(f"ray: {settings.workers} workers on {nodes} node(s)")
    return 0


def cmd_model_tiny(args: argparse.Namespace) -> int:
    from verigym.agents.tiny_model import build_tiny_model

    path = build_tiny_model(
        args.out,
        layers=args.layers,
        hidden=args.hidden,
        heads=args.heads,
        kv_heads=args.kv_heads or args.heads,
        intermediate=args.intermediate,
        vocab_size=args.vocab_size,
        seed=args.seed,
    )
    print(f"tiny model written to {path}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    records = read_episodes(args.file)
    if args.episode is not None:
        if not 0 <= args.episode < len(records):
            raise ValueError(f"{args.file} has {len(records)} episodes; --episode must be in 0..{len(records) - 1}")
        selected = [(args.episode, records[args.episode])]
    else:
        selected = list(enumerate(records))
    for index, r in selected:
        status = "dropped: " + (r.error or "") if r.dropped else ("success" if r.success else "failed")
        print(f"=== episode {index}  env={r.env_id} task={r.task_id} seed={r.seed} policy={r.policy}")
        print(f"    reward={r.total_reward:.3f} turns={r.turns} terminated={r.terminated} truncated={r.truncated} [{status}]")
        print("    components: " + ", ".join(f"{k}={v:.3f}" for k, v in r.components.items()))
        for m in r.messages:
            print(f"--- {m['role']}")
            for line in m["content"].splitlines() or [""]:
                print(textwrap.fill(line, args.width, subsequent_indent="  ") if line else "")
        print()
    return 0
