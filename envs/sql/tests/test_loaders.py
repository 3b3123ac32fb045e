"""Spider/BIRD-format loaders, on tiny directories written by the test."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from verigym.envs.sql.env import SqlEnv
from verigym.envs.sql.loaders import load_bird, load_spider
from verigym.envs.sql.task import SqlTask
from verigym.envs.sql.verifier import task_databases, verify


def _make_db(path: Path) -> None:
    path.parent.mkdir(parents=True)
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);"
        "CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer(singer_id), year INTEGER);"
    )
    countries = ["France", "Japan", "Peru", "Kenya"]
    con.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", [(i, f"Singer {i}", countries[i % 4], 20 + 3 * i) for i in range(1, 21)])
    con.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(i, 1 + (i * 7) % 20, 2010 + i % 6) for i in range(1, 31)])
    con.commit()
    con.close()


QUESTIONS = [
    {"db_id": "concert_singer", "question": "How many singers are there?", "query": "SELECT count(*) FROM singer"},
    {"db_id": "concert_singer", "question": "Names of singers older than 40?", "query": "SELECT name FROM singer WHERE age > 40;"},
    {"db_id": "concert_singer", "question": "Singers from France with a concert after 2012?",
     "query": "SELECT DISTINCT s.name FROM singer AS s JOIN concert AS c ON s.singer_id = c.singer_id WHERE c.year > 2012 AND s.country = 'France'"},
]


@pytest.fixture()
def spider(tmp_path: Path) -> Path:
    _make_db(tmp_path / "database" / "concert_singer" / "concert_singer.sqlite")
    (tmp_path / "dev.json").write_text(json.dumps(QUESTIONS))
    return tmp_path


def test_spider_tasks_load_round_trip_and_pass_with_the_oracle(spider: Path) -> None:
    tasks = load_spider(spider, n_variants=3)
    assert [t.task_id for t in tasks] == ["spider-dev-0", "spider-dev-1", "spider-dev-2"]
    assert tasks[1].gold_sql.endswith("age > 40")
    for task in tasks:
        assert SqlTask.from_json(task.to_json()) == task
        env = SqlEnv()
        obs, _ = env.reset(options={"task": task})
        assert "singer" in obs[1]["content"] and task.question in obs[1]["content"]
        env.step(env.oracle_action())
        _, reward, terminated, _, _ = env.step(env.oracle_action())
        assert terminated and reward == 1.0


def test_spider_variants_are_perturbations_that_catch_hardcoding(spider: Path) -> None:
    task = load_spider(spider)[1]
    dbs = task_databases(task)
    assert len(dbs) == 4 and len(set(dbs)) == 4
    con = sqlite3.connect(":memory:")
    con.deserialize(dbs[0])
    names = [r[0] for r in con.execute(task.gold_sql)]
    con.close()
    hack = "SELECT * FROM (VALUES " + ", ".join(f"('{n}')" for n in names) + ")"
    assert not verify(task, hack).passed
    assert not verify(task, "SELECT name FROM singer").passed
    assert verify(task, "SELECT s.name FROM singer AS s WHERE NOT s.age <= 40").passed


def test_bird_layout_and_evidence(tmp_path: Path) -> None:
    _make_db(tmp_path / "dev_databases" / "concert_singer" / "concert_singer.sqlite")
    items = [{"db_id": "concert_singer", "question": "Oldest singer?", "evidence": "oldest refers to MAX(age)",
              "SQL": "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "difficulty": "simple"}]
    (tmp_path / "dev.json").write_text(json.dumps(items))
    (task,) = load_bird(tmp_path)
    assert task.difficulty == "simple" and task.evidence
    env = SqlEnv()
    obs, _ = env.reset(options={"task": task})
    assert "Hint: oldest refers to MAX(age)" in obs[1]["content"]
    assert verify(task, task.gold_sql).passed


def test_loader_errors_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dev.json"):
        load_spider(tmp_path)
    (tmp_path / "dev.json").write_text(json.dumps([{"db_id": "x", "question": "q", "query": "SELECT 1"}]))
    with pytest.raises(FileNotFoundError, match="database .* not found"):
        load_spider(tmp_path)
    (tmp_path / "dev.json").write_text(json.dumps([{"db_id": "x", "question": "q"}]))
    with pytest.raises(ValueError, match="gold SQL"):
        load_spider(tmp_path)
