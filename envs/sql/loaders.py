"""Loaders for Spider- and BIRD-format directories on disk (an extra: nothing is downloaded).

Spider: `ROOT/<split>.json` (objects with db_id, question, query) and `ROOT/database/<db_id>/<db_id>.sqlite`.
BIRD:   `ROOT/<split>.json` (db_id, question, SQL, evidence, difficulty) and
        `ROOT/<split>_databases/<db_id>/<db_id>.sqlite`.
Hidden variants of a loaded database are perturbations of it (`database.perturbed_database`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from verigym.envs.sql.task import SqlTask


def load_spider(root: str | Path, split: str = "dev", n_variants: int = 3, limit: int | None = None) -> list[SqlTask]:
    """Tasks from a Spider-format directory (`split` names `ROOT/<split>.json`)."""
    root = Path(root)
    return [
        _task("spider", split, i, item, item.get("query"), root / "database" / item["db_id"] / f"{item['db_id']}.sqlite",
              n_variants, item.get("difficulty", "unknown"), "")
        for i, item in enumerate(_items(root, split, limit))
    ]


def load_bird(root: str | Path, split: str = "dev", n_variants: int = 3, limit: int | None = None) -> list[SqlTask]:
    """Tasks from a BIRD-format directory; the `evidence` hint is shown to the agent."""
    root = Path(root)
    return [
        _task("bird", split, i, item, item.get("SQL"), root / f"{split}_databases" / item["db_id"] / f"{item['db_id']}.sqlite",
              n_variants, item.get("difficulty", "unknown"), item.get("evidence", ""))
        for i, item in enumerate(_items(root, split, limit))
    ]


def _items(root: Path, split: str, limit: int | None) -> list[dict[str, Any]]:
    path = root / f"{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass the dataset root that contains {split}.json")
    items = json.loads(path.read_text())
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of question objects")
    return items[:limit] if limit is not None else items


def _task(kind: str, split: str, index: int, item: dict[str, Any], sql: str | None, db: Path, n_variants: int,
          difficulty: str, evidence: str) -> SqlTask:
    for key in ("db_id", "question"):
        if not isinstance(item.get(key), str):
            raise ValueError(f"{kind} {split}.json item {index}: missing string field {key!r}")
    if not isinstance(sql, str):
        raise ValueError(f"{kind} {split}.json item {index}: missing the gold SQL ('query' for Spider, 'SQL' for BIRD)")
    if not db.is_file():
        raise FileNotFoundError(f"{kind} {split}.json item {index}: database {db} not found")
    return SqlTask(
        task_id=f"{kind}-{split}-{index}", seed=index, question=item["question"], gold_sql=sql.strip().rstrip(";"),
        domain=f"{kind}:{item['db_id']}", difficulty=str(difficulty), shape="loaded",
        variant_seeds=tuple(index * 1000 + k + 1 for k in range(n_variants)), db_path=str(db.resolve()), evidence=evidence,
    )
