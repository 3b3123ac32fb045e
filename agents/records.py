"""Episode records and their Parquet files (schema version 2; every column is documented in agents/README.md).

One row per episode. Fixed columns: env_id, task_id, seed, group, policy, total_reward, success, turns,
terminated, truncated, dropped, drop_reason, error, duration_s, task_json, metadata_json, messages,
turn_records, token_ids, loss_mask, logprobs, turn_index; plus one float column `reward_<name>` per rubric
component. Files are written to a temporary name and renamed into place, so a reader never sees half a file.
Version 1 files (no `group`, no `drop_reason`) are still read: both are filled in from what v1 recorded.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from verigym.envs.spaces import Message
from verigym.envs.verdict import DropReason

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
DROP_REASONS = tuple(reason.value for reason in DropReason)  # verifier, sandbox, policy, env, budget, worker
COMPONENT_PREFIX = "reward_"

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
TURN = pa.struct(
    [
        ("action", pa.string()),
        ("observation", pa.list_(MESSAGE)),
        ("reward", pa.float64()),
        ("malformed", pa.string()),
        ("completion_token_ids", pa.list_(pa.int32())),
        ("completion_logprobs", pa.list_(pa.float32())),
        ("finish_reason", pa.string()),
    ]
)
FIXED_FIELDS = [
    ("env_id", pa.string()),
    ("task_id", pa.string()),
    ("seed", pa.int64()),
    ("group", pa.int64()),
    ("policy", pa.string()),
    ("total_reward", pa.float64()),
    ("success", pa.bool_()),
    ("turns", pa.int32()),
    ("terminated", pa.bool_()),
    ("truncated", pa.bool_()),
    ("dropped", pa.bool_()),
    ("drop_reason", pa.string()),
    ("error", pa.string()),
    ("duration_s", pa.float64()),
    ("task_json", pa.string()),
    ("metadata_json", pa.string()),
    ("messages", pa.list_(MESSAGE)),
    ("turn_records", pa.list_(TURN)),
    ("token_ids", pa.list_(pa.int32())),
    ("loss_mask", pa.list_(pa.int8())),
    ("logprobs", pa.list_(pa.float32())),
    ("turn_index", pa.list_(pa.int32())),
]


@dataclass
class TurnRecord:
    """One agent turn: the action, what the env answered, and the completion's tokens if any."""

    action: str
    observation: list[Message]
    reward: float = 0.0
    malformed: str | None = None
    completion_token_ids: list[int] | None = None
    completion_logprobs: list[float] | None = None
    finish_reason: str | None = None


@dataclass
class EpisodeRecord:
    """Everything about one episode, enough to replay it (task_json + seed) or train on it (tokens).

    `group` is the key of the episode's sampling group (episodes played on the same task share it; by default
    the task seed). `drop_reason` is one of `DROP_REASONS` when `dropped`, else None.
    """

    env_id: str
    task_id: str
    seed: int
    policy: str
    group: int | None = None
    total_reward: float = 0.0
    success: bool = False
    components: dict[str, float] = field(default_factory=dict)
    turns: int = 0
    terminated: bool = False
    truncated: bool = False
    dropped: bool = False
    drop_reason: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    task_json: str = "{}"
    metadata: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    turn_records: list[TurnRecord] = field(default_factory=list)
    token_ids: list[int] | None = None
    loss_mask: list[int] | None = None
    logprobs: list[float] | None = None
    turn_index: list[int] | None = None

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = self.seed
        if self.drop_reason is not None and self.drop_reason not in DROP_REASONS:
            raise ValueError(f"drop_reason must be one of {DROP_REASONS}, got {self.drop_reason!r}")

    def to_row(self) -> dict[str, Any]:
        """The Parquet row for this record."""
        row = {name: getattr(self, name) for name, _ in FIXED_FIELDS if hasattr(self, name)}
        row["metadata_json"] = json.dumps(self.metadata, sort_keys=True, default=str)
        row["turn_records"] = [vars(t) for t in self.turn_records]
        for name, value in self.components.items():
            row[COMPONENT_PREFIX + name] = value
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EpisodeRecord:
        """Inverse of `to_row`."""
        fixed = {name for name, _ in FIXED_FIELDS}
        kwargs = {k: v for k, v in row.items() if k in fixed and k not in ("metadata_json", "turn_records")}
        kwargs["components"] = {
            k[len(COMPONENT_PREFIX) :]: v for k, v in row.items() if k.startswith(COMPONENT_PREFIX)
        }
        kwargs["metadata"] = json.loads(row.get("metadata_json") or "{}")
        kwargs["turn_records"] = [TurnRecord(**t) for t in row.get("turn_records") or []]
        return cls(**kwargs)


def episode_schema(component_names: list[str] | tuple[str, ...]) -> pa.Schema:
    """The Parquet schema for episodes of an env with these rubric components."""
    fields = [pa.field(n, t) for n, t in FIXED_FIELDS]
    fields += [pa.field(COMPONENT_PREFIX + n, pa.float64()) for n in component_names]
    return pa.schema(fields, metadata={b"verigym.schema_version": str(SCHEMA_VERSION).encode()})


class EpisodeWriter:
    """Streams episode records into a Parquet file that appears, complete, only on `close()`."""

    def __init__(self, path: str | os.PathLike[str], component_names: list[str] | tuple[str, ...], batch_rows: int = 64) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = episode_schema(component_names)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer = pq.ParquetWriter(self._tmp, self.schema)
        self._pending: list[dict[str, Any]] = []
        self._batch_rows = batch_rows
        self.rows = 0

    def write(self, record: EpisodeRecord) -> None:
        """Queue one record (flushed in batches)."""
        self._pending.append(record.to_row())
        if len(self._pending) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_pylist(self._pending, schema=self.schema))
            self.rows += len(self._pending)
            self._pending = []

    def close(self) -> Path:
        """Finish the file and move it into place atomically."""
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard the partial file."""
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_episodes(path: str | os.PathLike[str], records: list[EpisodeRecord], component_names: list[str] | tuple[str, ...] | None = None) -> Path:
    """Write records to `path` atomically (component columns from the first record unless given)."""
    names = list(component_names if component_names is not None else (records[0].components if records else []))
    with EpisodeWriter(path, names) as writer:
        for record in records:
            writer.write(record)
    return Path(path)


def read_episodes(path: str | os.PathLike[str]) -> list[EpisodeRecord]:
    """Read every episode record from a file written by `EpisodeWriter` (schema 1 or 2); refuses others."""
    table = pq.read_table(path)
    version = int((table.schema.metadata or {}).get(b"verigym.schema_version", b"0"))
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: episode schema version {version}; this verigym reads versions {READABLE_VERSIONS} "
            "(upgrade verigym to read newer files)"
        )
    rows = table.to_pylist()
    if version == 1:
        rows = [_upgrade_v1(row) for row in rows]
    return [EpisodeRecord.from_row(row) for row in rows]


def _upgrade_v1(row: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 row with `group` (from metadata, else the seed) and `drop_reason` (from the error's prefix)."""
    metadata = json.loads(row.get("metadata_json") or "{}")
    group = metadata.get("group", row["seed"])
    reason = None
    if row.get("dropped"):
        error = row.get("error") or ""
        reason = "verifier" if error.startswith("VerifierError") else "policy" if error.startswith("PolicyError") else "env"
    return {**row, "group": int(group) if isinstance(group, int) else row["seed"], "drop_reason": reason}
