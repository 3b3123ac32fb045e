"""Seeded forum data: users and roles, boards and their moderators, threads, posts (some spam), site settings."""

from __future__ import annotations

import functools
import random
import sqlite3
from dataclasses import dataclass

from verigym.envs.web.framework import password_hash

TODAY = "2024-12-02"
TIMEZONES = ("UTC", "Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
BOARDS = (("general", "General", "Anything about the club."), ("help", "Help desk", "Questions and answers."),
          ("market", "Marketplace", "Buy, sell and swap gear."), ("events", "Events", "Meet-ups and rides."))
NAMES = ("ana", "ben", "cleo", "dara", "emil", "fern", "gus", "hana", "ivo", "jun", "kira", "liam", "mona", "nils")
TOPICS = ("brake pads", "tubeless tyres", "winter gloves", "chain wax", "saddle height", "route planning", "bike locks",
          "rain jackets", "gear ratios", "lights", "helmets", "pedals", "bottle cages", "mudguards", "cleats", "pumps")
TEMPLATES = ("Advice on {t}?", "Best {t} for commuting", "Selling my old {t}", "{t} recommendations", "Trouble with {t}",
             "Group order for {t}", "Review: {t}")
REPLIES = ("Thanks, that helped.", "I had the same problem last year.", "Try the shop on Main Street.", "Count me in!",
           "Is this still available?", "Photos please.", "Agreed, great choice.", "Check the pinned guide first.")
SPAM = ("Buy cheap watches at discount prices!!!", "Earn money fast from home, click my profile!",
        "Best replica sunglasses, message me now!")

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
                    role TEXT NOT NULL, joined_on TEXT NOT NULL, signature TEXT NOT NULL,
                    email_notifications INTEGER NOT NULL, timezone TEXT NOT NULL);
CREATE TABLE boards (id INTEGER PRIMARY KEY, slug TEXT UNIQUE NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE board_moderators (id INTEGER PRIMARY KEY, board_id INTEGER NOT NULL, user_id INTEGER NOT NULL);
CREATE TABLE threads (id INTEGER PRIMARY KEY, board_id INTEGER NOT NULL, author_id INTEGER NOT NULL, title TEXT NOT NULL,
                      created_on TEXT NOT NULL);
CREATE TABLE posts (id INTEGER PRIMARY KEY, thread_id INTEGER NOT NULL, author_id INTEGER NOT NULL, body TEXT NOT NULL,
                    created_on TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE site_settings (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, value TEXT NOT NULL);
CREATE TABLE sessions (sid TEXT PRIMARY KEY, user_id INTEGER, csrf TEXT NOT NULL);
"""
VOLATILE_TABLES = frozenset({"sessions"})


@dataclass(frozen=True)
class ForumData:
    """Everything seeded into one forum database (rows as tuples in column order)."""

    seed: int
    users: tuple[tuple, ...]       # id, username, password, role, joined_on, signature, email_notifications, timezone
    boards: tuple[tuple, ...]      # id, slug, title, description
    moderators: tuple[tuple, ...]  # id, board_id, user_id
    threads: tuple[tuple, ...]     # id, board_id, author_id, title, created_on
    posts: tuple[tuple, ...]       # id, thread_id, author_id, body, created_on, status
    settings: tuple[tuple, ...]    # id, key, value

    def user(self, uid: int) -> tuple:
        return self.users[uid - 1]


@functools.lru_cache(maxsize=16)
def generate(seed: int) -> ForumData:
    """The forum's seeded content for `seed` (pure)."""
    rng = random.Random(f"forum-data-{seed}")
    names = rng.sample(NAMES, 10)
    days = [f"2023-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    users = []
    for i, name in enumerate(names, start=1):
        role = "admin" if i == 1 else ("moderator" if i in (2, 3) else "member")
        users.append((i, f"{name}{rng.randint(1, 99)}", f"pw-{rng.randrange(16**8):08x}", role, rng.choice(days),
                      rng.choice(("", "Ride safe.", "Keep pedalling!", "-- sent from my bike")), rng.randint(0, 1),
                      rng.choice(TIMEZONES)))
    spammer = (11, f"deals{rng.randint(100, 999)}", f"pw-{rng.randrange(16**8):08x}", "member", "2024-10-01", "", 0, "UTC")
    users.append(spammer)
    boards = tuple((i, slug, title, desc) for i, (slug, title, desc) in enumerate(BOARDS, start=1))
    moderators = [(1, 1, 2), (2, 2, 2), (3, 3, 3), (4, 4, 3)]
    if rng.random() < 0.5:
        moderators.append((5, rng.randint(1, 4), 1))
    titles = rng.sample([t.format(t=topic) for t in TEMPLATES for topic in TOPICS], 4 * 14)
    titles = [t[0].upper() + t[1:] for t in titles]
    threads, posts = [], []
    post_days = [f"2024-{m:02d}-{d:02d}" for m in range(1, 12) for d in range(1, 29)]
    members = users[:10]
    for board in boards:
        for _ in range(rng.randint(8, 14)):
            tid = len(threads) + 1
            start = rng.choice(post_days[:200])
            author = rng.choice(members)
            threads.append((tid, board[0], author[0], titles[tid - 1], start))
            posts.append((len(posts) + 1, tid, author[0], f"Hi all, a question about {titles[tid - 1].lower()}.", start, "visible"))
            later = sorted(rng.sample([d for d in post_days if d > start], rng.randint(0, 13)))
            for day in later:
                if rng.random() < 0.12:
                    posts.append((len(posts) + 1, tid, spammer[0], rng.choice(SPAM), day, "visible"))
                else:
                    status = "hidden" if rng.random() < 0.05 else "visible"
                    posts.append((len(posts) + 1, tid, rng.choice(members)[0], rng.choice(REPLIES), day, status))
    settings = ((1, "announcement", rng.choice(("Welcome to the club forum!", "Spring ride on the 12th.", ""))),
                (2, "registration", rng.choice(("open", "closed"))))
    return ForumData(seed, tuple(users), boards, tuple(moderators), tuple(threads), tuple(posts), settings)


def seed_database(data: ForumData, path: str) -> None:
    """Write `data` into a fresh SQLite file at `path`."""
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY;" + SCHEMA)
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(u[0], u[1], password_hash(u[1], u[2]), *u[3:]) for u in data.users])
        db.executemany("INSERT INTO boards VALUES (?, ?, ?, ?)", data.boards)
        db.executemany("INSERT INTO board_moderators VALUES (?, ?, ?)", data.moderators)
        db.executemany("INSERT INTO threads VALUES (?, ?, ?, ?, ?)", data.threads)
        db.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?)", data.posts)
        db.executemany("INSERT INTO site_settings VALUES (?, ?, ?)", data.settings)
        db.commit()
    finally:
        db.close()
