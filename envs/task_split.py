"""Train/eval splits of a procedural task space by task content, not by seed.

Seeds alone do not hold tasks out: a small task space repeats (beam-statics' one-load cantilevers have under
500 distinct tasks, so every one of 100 "held-out" seeds was also among 3,000 training seeds). An env with
`split = "train"` or `"eval"` keeps only the tasks whose content hashes into that part (`eval_fraction` of
the space is eval), so the two parts never share a task, whatever the seeds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from verigym.envs.task import Task

SPLITS = ("all", "train", "eval")
MAX_DRAWS = 1000  # redraws before giving up (a split holding 1% of the space needs ~100 on average)
T = TypeVar("T", bound=Task)


def task_part(task: Task, eval_fraction: float) -> str:
    """ "eval" or "train": where the task's content (everything but its id and seed) hashes to."""
    content = {k: v for k, v in task.to_dict().items() if k not in ("task_id", "seed")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") < eval_fraction * 2**64 else "train"


def draw_in_split(generate: Callable[[int], T], seed: int, split: str, eval_fraction: float, max_seed: int) -> T:
    """The task of `seed` if it lies in `split`, else of the first derived seed (a fixed hash chain) whose task does."""
    if split == "all":
        return generate(seed)
    draw_seed = seed
    for draw in range(MAX_DRAWS):
        task = generate(draw_seed)
        if task_part(task, eval_fraction) == split:
            return task
        draw_seed = _derived_seed(seed, draw + 1, max_seed)
    raise ValueError(
        f"no task of the {split!r} split in {MAX_DRAWS} draws from seed {seed} (eval_fraction {eval_fraction}): "
        "the split is empty or tiny for these settings; raise or lower eval_fraction, or widen the task space"
    )


def check_split(split: Any, eval_fraction: Any) -> None:
    """Raise a ValueError naming the setting when `split` or `eval_fraction` is invalid."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not isinstance(eval_fraction, (int, float)) or not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be a number strictly between 0 and 1, got {eval_fraction!r}")


def _derived_seed(seed: int, draw: int, max_seed: int) -> int:
    digest = hashlib.sha256(f"task-split/{seed}/{draw}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % max_seed
