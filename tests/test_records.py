import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verigym.agents.records import (
    SCHEMA_VERSION,
    EpisodeRecord,
    EpisodeWriter,
    TurnRecord,
    episode_schema,
    read_episodes,
    write_episodes,
)


def record(i: int) -> EpisodeRecord:
    return EpisodeRecord(
        env_id="toy-add-v0",
        task_id=f"add-{i}",
        seed=i,
        policy="oracle",
        total_reward=1.1,
        success=True,
        components={"correct": 1.0, "format": 1.0},
        turns=1,
        terminated=True,
        task_json='{"a": 1}',
        metadata={"sandbox": "local"},
        messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        turn_records=[TurnRecord("a", [{"role": "user", "content": "right"}], 1.1, None, [5, 6], [-0.5, -0.25], "stop")],
        token_ids=[1, 2, 5, 6],
        loss_mask=[0, 0, 1, 1],
        logprobs=[0.0, 0.0, -0.5, -0.25],
    )


def test_round_trip_preserves_every_field(tmp_path):
    records = [record(i) for i in range(3)]
    path = write_episodes(tmp_path / "eps.parquet", records)
    assert read_episodes(path) == records


def test_schema_has_documented_columns_and_version():
    schema = episode_schema(["correct", "format"])
    for column in ("env_id", "task_id", "seed", "total_reward", "success", "turns", "terminated", "truncated",
                   "error", "turn_records", "token_ids", "loss_mask", "logprobs", "reward_correct", "reward_format"):
        assert column in schema.names
    assert schema.metadata[b"verigym.schema_version"] == str(SCHEMA_VERSION).encode()


def test_an_aborted_writer_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "eps.parquet"
    with pytest.raises(RuntimeError):
        with EpisodeWriter(target, ["correct", "format"], batch_rows=1) as writer:
            writer.write(record(0))
            raise RuntimeError("crash mid-run")
    assert os.listdir(tmp_path) == []


def test_the_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "eps.parquet"
    writer = EpisodeWriter(target, ["correct", "format"], batch_rows=1)
    writer.write(record(0))
    writer.write(record(1))
    assert not target.exists()
    writer.close()
    assert [r.seed for r in read_episodes(target)] == [0, 1]


def test_other_schema_versions_are_refused(tmp_path):
    table = pa.Table.from_pylist([record(0).to_row()], schema=episode_schema(["correct", "format"]))
    table = table.replace_schema_metadata({b"verigym.schema_version": b"99"})
    pq.write_table(table, tmp_path / "future.parquet")
    with pytest.raises(ValueError, match="version 99"):
        read_episodes(tmp_path / "future.parquet")
