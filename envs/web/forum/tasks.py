"""Forum tasks from the seeded data: replies, new threads, settings, moderation, admin changes, typed look-ups."""

from __future__ import annotations

import random

from verigym.envs.web.forum.data import TIMEZONES, ForumData, generate
from verigym.envs.web.task import NEW_ROW, PlanStep, RequiredInsert, RequiredUpdate, WebTask

PAGE_SIZE = 10
KINDS = ("reply", "new-thread", "signature", "notifications", "timezone", "hide-spam", "promote", "announcement",
         "reply-count", "join-date", "thread-starter", "moderators")
WEIGHTS = (2, 2, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1)
MESSAGES = ("I can bring spare tubes.", "Has anyone tried the new ones?", "Great idea, see you there.",
            "I would go for the lighter option.", "Thanks for organising this!")
SIGNATURES = ("Ride on.", "Miles not smiles.", "Coffee first, then hills.", "Two wheels good.")
ANNOUNCEMENTS = ("Forum maintenance on Sunday night.", "Winter ride series starts soon.", "Please read the new rules.")
DONE = "Done."


def generate_task(seed: int, kinds: tuple[str, ...] = ()) -> WebTask:
    """The forum task for `seed` (optionally limited to `kinds`)."""
    data = generate(seed)
    rng = random.Random(f"forum-task-{seed}")
    pool = [(k, w) for k, w in zip(KINDS, WEIGHTS) if not kinds or k in kinds]
    if not pool:
        raise ValueError(f"no forum task kinds in {kinds!r}; choose from {KINDS}")
    for _ in range(20):
        kind = rng.choices([k for k, _ in pool], [w for _, w in pool])[0]
        task = _BUILDERS[kind](data, rng, seed)
        if task is not None:
            return task
    raise ValueError(f"seed {seed}: no feasible forum task among {kinds or KINDS}")


def _task(seed: int, kind: str, intent: str, user: tuple, plan: list[PlanStep], **fields: object) -> WebTask:
    account = f"You are signed in to the forum as {user[1]} (password: {user[2]})."
    return WebTask(task_id=f"web-forum/{seed}", seed=seed, site="forum", kind=kind, intent=f"{intent}\n{account}",
                   username=user[1], password=user[2], user_id=user[0], plan=tuple(plan), **fields)  # type: ignore[arg-type]


def _member(data: ForumData, rng: random.Random) -> tuple:
    return data.users[rng.randrange(1, 10)]


def _board_threads(data: ForumData, board_id: int) -> list[tuple]:
    return sorted((t for t in data.threads if t[1] == board_id), key=lambda t: (t[4], t[0]), reverse=True)


def _open_board(data: ForumData, board_id: int) -> list[PlanStep]:
    return [PlanStep("click", f"link:{data.boards[board_id - 1][2]}")]


def _open_thread(data: ForumData, thread: tuple) -> list[PlanStep]:
    position = [t[0] for t in _board_threads(data, thread[1])].index(thread[0])
    return (_open_board(data, thread[1]) + [PlanStep("click", "link:Next page")] * (position // PAGE_SIZE)
            + [PlanStep("click", f"link:{thread[3]}")])


def _visible_replies(data: ForumData, tid: int) -> int:
    return sum(p[1] == tid and p[5] == "visible" for p in data.posts) - 1


def _reply(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user, thread, text = _member(data, rng), rng.choice(data.threads), rng.choice(MESSAGES)
    plan = _open_thread(data, thread) + [PlanStep("fill", "name:body", text), PlanStep("click", "button:Post reply"),
                                         PlanStep("send_msg_to_user", value=DONE)]
    insert = RequiredInsert("posts", (("thread_id", thread[0]), ("author_id", user[0]), ("body", text), ("status", "visible")))
    return _task(seed, "reply", f'Reply to the thread "{thread[3]}" with the message "{text}", then tell me you are done.',
                 user, plan, inserts=(insert,))


def _new_thread(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user, board = _member(data, rng), rng.choice(data.boards)
    title = f"{rng.choice(('Looking for', 'Question about', 'Offer:'))} {rng.choice(('a riding buddy', 'spare parts', 'a Sunday loop'))}"
    text = rng.choice(MESSAGES)
    plan = _open_board(data, board[0]) + [PlanStep("fill", "name:title", title), PlanStep("fill", "name:body", text),
                                          PlanStep("click", "button:Create thread"), PlanStep("send_msg_to_user", value=DONE)]
    inserts = (RequiredInsert("threads", (("board_id", board[0]), ("author_id", user[0]), ("title", title))),
               RequiredInsert("posts", (("thread_id", NEW_ROW + "threads"), ("author_id", user[0]), ("body", text),
                                        ("status", "visible"))))
    intent = f'Start a new thread in the {board[2]} board titled "{title}" with the message "{text}", then tell me you are done.'
    return _task(seed, "new-thread", intent, user, plan, inserts=inserts)


def _settings_plan(*steps: PlanStep) -> list[PlanStep]:
    return [PlanStep("click", "link:Settings"), *steps, PlanStep("click", "button:Save settings"),
            PlanStep("send_msg_to_user", value=DONE)]


def _signature(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user = _member(data, rng)
    text = rng.choice([s for s in SIGNATURES if s != user[5]])
    return _task(seed, "signature", f'Change my forum signature to "{text}", then tell me you are done.', user,
                 _settings_plan(PlanStep("fill", "name:signature", text)),
                 updates=(RequiredUpdate("users", user[0], "signature", text),))


def _notifications(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user = _member(data, rng)
    turn = "off" if user[6] else "on"
    return _task(seed, "notifications", f"Turn {turn} email notifications about replies, then tell me you are done.", user,
                 _settings_plan(PlanStep("click", "name:email_notifications")),
                 updates=(RequiredUpdate("users", user[0], "email_notifications", 0 if user[6] else 1),))


def _timezone(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user = _member(data, rng)
    zone = rng.choice([z for z in TIMEZONES if z != user[7]])
    return _task(seed, "timezone", f"Set my time zone to {zone}, then tell me you are done.", user,
                 _settings_plan(PlanStep("select_option", "name:timezone", zone)),
                 updates=(RequiredUpdate("users", user[0], "timezone", zone),))


def _hide_spam(data: ForumData, rng: random.Random, seed: int) -> WebTask | None:
    spammer = data.users[10]
    candidates = []
    for thread in data.threads:
        spam = [p for p in data.posts if p[1] == thread[0] and p[2] == spammer[0] and p[5] == "visible"]
        if len(spam) == 1:
            candidates.append((thread, spam[0]))
    if not candidates:
        return None
    thread, post = rng.choice(candidates)
    moderator = data.user(rng.choice([m[2] for m in data.moderators if m[1] == thread[1]]))
    index = [p[0] for p in data.posts if p[1] == thread[0]].index(post[0])
    plan = (_open_thread(data, thread) + [PlanStep("click", "link:Next page")] * (index // PAGE_SIZE)
            + [PlanStep("click", f"button:Hide post #{post[0]}"), PlanStep("send_msg_to_user", value=DONE)])
    intent = f'As a moderator, hide the spam post by {spammer[1]} in the thread "{thread[3]}", then tell me you are done.'
    return _task(seed, "hide-spam", intent, moderator, plan, updates=(RequiredUpdate("posts", post[0], "status", "hidden"),))


def _promote(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    member = rng.choice([u for u in data.users[:10] if u[3] == "member"])
    plan = [PlanStep("click", "link:Admin"), PlanStep("select_option", f"name:role_{member[0]}", "moderator"),
            PlanStep("click", f"button:Save role for {member[1]}"), PlanStep("send_msg_to_user", value=DONE)]
    return _task(seed, "promote", f"Make {member[1]} a moderator, then tell me you are done.", data.users[0], plan,
                 updates=(RequiredUpdate("users", member[0], "role", "moderator"),))


def _announcement(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    text = rng.choice([a for a in ANNOUNCEMENTS if a != data.settings[0][2]])
    plan = [PlanStep("click", "link:Admin"), PlanStep("fill", "name:announcement", text),
            PlanStep("click", "button:Save site settings"), PlanStep("send_msg_to_user", value=DONE)]
    return _task(seed, "announcement", f'Set the site announcement to "{text}", then tell me you are done.', data.users[0],
                 plan, updates=(RequiredUpdate("site_settings", 1, "value", text),))


def _thread_listing(data: ForumData, thread: tuple) -> list[PlanStep]:
    position = [t[0] for t in _board_threads(data, thread[1])].index(thread[0])
    return _open_board(data, thread[1]) + [PlanStep("click", "link:Next page")] * (position // PAGE_SIZE)


def _reply_count(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    thread = rng.choice(data.threads)
    n = _visible_replies(data, thread[0])
    plan = _thread_listing(data, thread) + [PlanStep("send_msg_to_user", value=str(n))]
    return _task(seed, "reply-count", f'How many visible replies does the thread "{thread[3]}" have? Answer with a number.',
                 _member(data, rng), plan, answer_type="number", answer=(str(n),))


def _join_date(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    user, other = _member(data, rng), rng.choice(data.users[:10])
    plan = [PlanStep("click", "link:Members"), PlanStep("click", f"link:{other[1]}"), PlanStep("send_msg_to_user", value=other[4])]
    return _task(seed, "join-date", f"On what date did {other[1]} join the forum? Answer with the date.", user, plan,
                 answer_type="date", answer=(other[4],))


def _thread_starter(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    thread = rng.choice(data.threads)
    author = data.user(thread[2])[1]
    plan = _thread_listing(data, thread) + [PlanStep("send_msg_to_user", value=author)]
    return _task(seed, "thread-starter", f'Who started the thread "{thread[3]}"? Answer with the username.', _member(data, rng),
                 plan, answer_type="names", answer=(author,))


def _moderators(data: ForumData, rng: random.Random, seed: int) -> WebTask:
    board = rng.choice(data.boards)
    names = tuple(sorted(data.user(m[2])[1] for m in data.moderators if m[1] == board[0]))
    plan = _open_board(data, board[0]) + [PlanStep("send_msg_to_user", value=", ".join(names))]
    return _task(seed, "moderators", f"Who moderates the {board[2]} board? List their usernames, comma-separated.",
                 _member(data, rng), plan, answer_type="names", answer=names)


_BUILDERS = {
    "reply": _reply, "new-thread": _new_thread, "signature": _signature, "notifications": _notifications,
    "timezone": _timezone, "hide-spam": _hide_spam, "promote": _promote, "announcement": _announcement,
    "reply-count": _reply_count, "join-date": _join_date, "thread-starter": _thread_starter, "moderators": _moderators,
}
