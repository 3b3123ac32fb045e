"""The update's log-prob pass on 6-turn sql-v0 episodes: per-turn rows vs whole-episode rows vs shared prefix.

    python benchmarks/multi_turn_update.py [--sizes 25M --seeds 2 --group-size 8 --micro-batch 8
                                            --warmup 1 --repeats 3 --threads 1]

Episodes are real sql-v0 episodes collected with `verigym.agents.collect.collect` and a scripted policy
(a `schema` call, four `execute` queries that vary with the sample, then the oracle answer: 6 turns), so
the records carry the tokenizer's token ids, loss mask and per-token turn index. Random tiny Qwen2 models
are built under `--model-root` (the folders `benchmarks/trainer_vs_trl.py` uses). Each layout runs one
forward + backward of `sequence_logprobs` (fp32, the update's cost), in micro-batches of `--micro-batch`
rows with gradients accumulated; the table shows the median of `--repeats` after `--warmup` untimed runs:

- `per-turn rows`: turn t of an episode is its own row (prompt, earlier turns and observations, then turn
  t's tokens), loss on turn t's tokens only, so earlier turns are forwarded again for every later turn
  (what trainers without token-exact multi-turn records do); rows ordered (group, turn, sample), so a
  micro-batch is one group's samples at one turn (the least padding).
- `whole episode`: one row per episode cut after its last policy token, loss on every policy token
  (verigym's default layout), `share_prefix=False`.
- `whole episode + shared prefix`: the same rows with `share_prefix=True`: a group's samples run their
  common prompt through the backbone once (`plan_prefix_sharing`).

`real tokens` counts the tokens the backbone runs over without padding (the attention mask; for the shared
layout each distinct prefix once plus every suffix), `padded tokens` what it computes with padding (rows x
length per micro-batch; for the shared layout `len(groups) * P + B * S` of the plan). The logprobs at the
policy tokens of all three layouts are compared (max abs difference; fp32 agrees to ~1e-5), and the machine
load (`os.getloadavg`) is printed with the table: on a shared machine, compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from verigym.agents.collect import collect
from verigym.agents.policy import Completion, GenerationRequest, SamplingParams
from verigym.agents.records import EpisodeRecord
from verigym.agents.tiny_model import build_tiny_model
from verigym.envs import format_answer, format_tool_call
from verigym.envs.sql import database
from verigym.envs.sql.env import oracle_sql
from verigym.trainer.batch import trained_length
from verigym.trainer.logprobs import plan_prefix_sharing, sequence_logprobs

from trainer_vs_trl import SIZES  # the same model shapes and folders (benchmarks/ is the script's sys.path[0])

ENV_ID = "sql-v0"
TURNS = 6  # 5 tool calls (sql-v0 allows 6 by default, and 8 turns) + the answer


class ScriptedSqlPolicy:
    """Six sql-v0 turns: `schema`, the oracle query run with `execute`, three `execute` queries that depend
    on the sample (which table, how many columns and rows), then the oracle query as the answer."""

    name = "scripted-sql"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def generate(self, requests: list[GenerationRequest], sampling: SamplingParams) -> list[Completion]:
        return [Completion(text=self.action(r)) for r in requests]

    @staticmethod
    def action(request: GenerationRequest) -> str:
        """The text of turn `request.turn` of sample `request.sample`."""
        env = request.env
        assert env is not None and env.task is not None
        gold = oracle_sql(env.task.gold_sql, env.task.dialect)
        if request.turn == 0:
            return format_tool_call("schema", {})
        if request.turn == 1:
            return format_tool_call("execute", {"sql": gold})
        if request.turn < TURNS - 1:
            tables = database.table_columns(env.visible)
            names = sorted(tables)
            table = names[(request.sample + request.turn) % len(names)]
            columns = tables[table][: 1 + (request.sample + request.turn) % len(tables[table])]
            limit = 1 + (3 * request.sample + request.turn) % 6
            return format_tool_call("execute", {"sql": f"SELECT {', '.join(columns)} FROM {table} LIMIT {limit}"})
        return format_answer(gold)


@dataclass
class Row:
    """One training row: the first `length` tokens of episode `episode`, loss on `mask` (same length)."""

    episode: int
    ids: list[int]
    mask: list[int]


@dataclass
class Layout:
    """A way to lay the episodes out as rows, and whether the log-prob pass shares prefixes."""

    name: str
    rows: list[Row]
    share_prefix: bool


def collect_episodes(model_dir: Path, seeds: int, group_size: int) -> list[EpisodeRecord]:
    """`group_size` scripted 6-turn sql-v0 episodes on each of `seeds` task seeds, token-exact."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    records = collect(ENV_ID, ScriptedSqlPolicy(tokenizer), list(range(seeds)), group_size=group_size, max_turns=TURNS + 2,
                      tokenizer=tokenizer, schedule="lockstep")
    for r in records:
        turns = max(r.turn_index or [-1]) + 1
        if r.token_ids is None or turns != TURNS or not r.terminated:
            raise RuntimeError(f"seed {r.seed} sample {r.metadata.get('sample')}: {turns} turns, terminated={r.terminated}, "
                               f"error={r.error!r}; expected a finished {TURNS}-turn episode")
    return records


def layouts(records: list[EpisodeRecord]) -> list[Layout]:
    """The three layouts of the same episodes (records in (group, sample) order, as `collect` returns them)."""
    whole = []
    per_turn: list[tuple[int, int, int, Row]] = []
    for e, r in enumerate(records):
        assert r.token_ids is not None and r.turn_index is not None
        n = trained_length(r)
        whole.append(Row(e, r.token_ids[:n], [int(t >= 0) for t in r.turn_index[:n]]))
        for t in range(TURNS):
            end = max(i for i, x in enumerate(r.turn_index) if x == t) + 1
            per_turn.append((int(r.group or 0), t, e, Row(e, r.token_ids[:end], [int(x == t) for x in r.turn_index[:end]])))
    per_turn.sort(key=lambda item: item[:3])
    return [
        Layout("per-turn rows", [row for *_, row in per_turn], False),
        Layout("whole episode", whole, False),
        Layout("whole episode + shared prefix", whole, True),
    ]


def pad(rows: list[Row], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded input ids, attention mask and loss mask of `rows`, [B, L] each."""
    length = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    attn = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r.ids)] = torch.tensor(r.ids)
        attn[i, : len(r.ids)] = 1
        mask[i, : len(r.mask)] = torch.tensor(r.mask)
    return ids, attn, mask


def token_counts(layout: Layout, micro_batch: int, pad_id: int) -> tuple[int, int]:
    """(real, padded) tokens the backbone runs over for `layout` (see the module docstring)."""
    real = padded = 0
    for start in range(0, len(layout.rows), micro_batch):
        ids, attn, mask = pad(layout.rows[start : start + micro_batch], pad_id)
        plan = plan_prefix_sharing(ids, attn, mask.bool() & attn.bool()) if layout.share_prefix else None
        if plan is None:
            real += int(attn.sum())
            padded += attn.numel()
        else:
            real += int(plan.prefix_mask.sum() + plan.suffix_mask.sum())
            padded += plan.prefix_ids.numel() + plan.suffix_ids.numel()
    return real, padded


def update_pass(model: torch.nn.Module, layout: Layout, micro_batch: int, pad_id: int, episode_lengths: list[int]) -> tuple[float, list[torch.Tensor]]:
    """Seconds of one forward + backward of the log-prob pass over `layout`, and each episode's logprobs at
    its policy tokens (0 elsewhere), put together from the rows that train them."""
    values = [torch.zeros(n) for n in episode_lengths]
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    for first in range(0, len(layout.rows), micro_batch):
        rows = layout.rows[first : first + micro_batch]
        ids, attn, mask = pad(rows, pad_id)
        logp, _ = sequence_logprobs(model, ids, attn, mask, share_prefix=layout.share_prefix)
        logp.sum().backward()
        for i, r in enumerate(rows):
            picked = torch.tensor(r.mask, dtype=torch.bool)
            values[r.episode][: len(r.mask)][picked] = logp[i, : len(r.mask)][picked].detach()
    return time.perf_counter() - start, values


def bench_size(size: str, args: argparse.Namespace) -> tuple[list[dict[str, Any]], float, str]:
    """Build (once) and load the model of `size`, collect episodes, time each layout: (table rows, the max
    abs logprob difference to the per-turn layout, a line describing the episodes)."""
    from transformers import AutoModelForCausalLM

    model_dir = Path(args.model_root) / size
    if not (model_dir / "config.json").is_file():
        build_tiny_model(model_dir, **SIZES[size])
    records = collect_episodes(model_dir, args.seeds, args.group_size)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.config.use_cache = False
    model.train()
    pad_id = int(model.config.pad_token_id)
    lengths = [len(r.token_ids or []) for r in records]
    results, reference, diff = [], None, 0.0
    for layout in layouts(records):
        times = []
        for repeat in range(args.warmup + args.repeats):
            seconds, values = update_pass(model, layout, args.micro_batch, pad_id, lengths)
            if repeat >= args.warmup:
                times.append(seconds)
        flat = torch.cat(values)
        reference = flat if reference is None else reference
        diff = max(diff, float((flat - reference).abs().max()))
        real, padded = token_counts(layout, args.micro_batch, pad_id)
        results.append({"size": size, "layout": layout.name, "rows": len(layout.rows), "real": real, "padded": padded, "s": statistics.median(times)})
        print(f"{size} {layout.name}: {results[-1]['s']:.3f} s", flush=True)
    prompt = min(r.loss_mask.index(1) for r in records if r.loss_mask)
    trained = [trained_length(r) for r in records]
    about = (f"{size}: {len(records)} episodes ({args.seeds} task seed(s) x {args.group_size} samples) of {TURNS} turns, "
             f"{min(trained)}-{max(trained)} trained tokens each, prompt {prompt} tokens")
    return results, diff, about


def table(results: list[dict[str, Any]]) -> str:
    """A markdown table, one row per (size, layout), seconds as a ratio to the per-turn rows of that size."""
    lines = ["| model | layout | rows | real tokens | padded tokens | s (median) | vs per-turn |", "|---" * 7 + "|"]
    for r in results:
        base = next(x for x in results if x["size"] == r["size"] and x["layout"] == "per-turn rows")
        lines.append(f"| {r['size']} | {r['layout']} | {r['rows']} | {r['real']} | {r['padded']} | {r['s']:.3f} | {r['s'] / base['s']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-root", default="runs/bench-models", help="where the random tiny models are built (one folder per size)")
    p.add_argument("--sizes", default="25M", help=f"model sizes to run, of {list(SIZES)}")
    p.add_argument("--seeds", type=int, default=2, help="sql-v0 task seeds (groups)")
    p.add_argument("--group-size", type=int, default=8, help="samples per task seed")
    p.add_argument("--micro-batch", type=int, default=8, help="rows per forward + backward")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: a shared machine distorts less)")
    args = p.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        p.error(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    loads = [os.getloadavg()[0]]
    results, notes = [], []
    for size in sizes:
        rows, diff, about = bench_size(size, args)
        results += rows
        notes.append(f"{about}; max |logprob difference| to per-turn rows {diff:.1e}")
        loads.append(os.getloadavg()[0])
    print(f"\none forward + backward of the log-prob pass, fp32, micro-batches of {args.micro_batch} rows, median of "
          f"{args.repeats} after {args.warmup} warm-up; {args.threads} torch thread(s), {os.cpu_count()} CPUs, "
          f"1-min load average during the run {min(loads):.1f}-{max(loads):.1f}")
    print("\n".join(notes))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
