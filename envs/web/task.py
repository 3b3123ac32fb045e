"""Task records of the web envs: the instruction, the account, the goal's state and answer, the oracle's plan."""

from __future__ import annotations

from dataclasses import dataclass

from verigym.envs.task import Task

#: An insert's field value that stands for "the rowid of the row this goal inserts into that table".
NEW_ROW = "@new:"


@dataclass(frozen=True)
class RequiredUpdate:
    """Column `column` of row `key` in `table` must end as `value`."""

    table: str
    key: int
    column: str
    value: str | int


@dataclass(frozen=True)
class RequiredInsert:
    """One new row in `table` whose `fields` equal these (text compared with whitespace collapsed)."""

    table: str
    fields: tuple[tuple[str, str | int], ...]


@dataclass(frozen=True)
class PurchaseGoal:
    """A WebShop-style purchase: one item of `category` with `attributes`, `options` ((kind, value) pairs),
    at most `max_price_cents`; `matching` lists every product that satisfies it."""

    category: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    max_price_cents: int
    matching: tuple[int, ...]


@dataclass(frozen=True)
class PlanStep:
    """One oracle step: `op` (an action name) on the element `target` selects (`role:label`, `name:x`,
    `href:/path`), with `value` (fill text, option, URL or message)."""

    op: str
    target: str = ""
    value: str = ""


@dataclass(frozen=True)
class WebTask(Task):
    """One web task. `answer_type` is empty for pure state goals; `answer` holds the gold value(s)."""

    site: str
    kind: str
    intent: str
    username: str
    password: str
    user_id: int
    answer_type: str = ""
    answer: tuple[str, ...] = ()
    updates: tuple[RequiredUpdate, ...] = ()
    inserts: tuple[RequiredInsert, ...] = ()
    purchase: PurchaseGoal | None = None
    plan: tuple[PlanStep, ...] = ()

    @property
    def difficulty(self) -> int:
        """The number of actions the oracle needs (more steps, harder)."""
        return len(self.plan)
