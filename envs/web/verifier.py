"""State-based verification: the goal's database changes happened, nothing else changed, typed answers match.

`verify` is a pure function of (task, seeded snapshot, final snapshot, final message, policy violation).
Components (each in [0, 1]):

- `success`: the goal's required changes are all there, no other row changed, and the answer (for look-ups)
  matches after typed normalisation.
- `partial`: dense credit. Purchases get WebShop's score (category gate x share of attributes, options and
  price bound met); state goals the share of required changes made; look-ups equal `success`. Any unrelated
  change, or a policy violation (navigating off the site), makes every component 0.
"""

from __future__ import annotations

from typing import Any

from verigym.envs.verdict import Verdict, VerifierError
from verigym.envs.web.answers import answer_matches
from verigym.envs.web.state import Diff, Snapshot, diff
from verigym.envs.web.task import NEW_ROW, PurchaseGoal, WebTask

COMPONENTS = ("success", "partial")


def verify(task: WebTask, before: Snapshot, after: Snapshot, message: str | None, violation: str | None = None) -> Verdict:
    """Judge the episode's end state and final message against `task`."""
    if violation is not None:
        return _verdict(False, 0.0, {"violation": violation})
    try:
        changes = diff(before, after)
        details: dict[str, Any] = {"diff": changes.summary()}
        if task.purchase is not None:
            state_ok, partial = _purchase(task, task.purchase, before, changes, details)
        else:
            state_ok, partial = _state_goal(task, changes, details)
        answer_ok = True
        if task.answer_type:
            answer_ok = message is not None and answer_matches(task.answer_type, message, task.answer)
            details["answer"] = {"given": (message or "")[:500], "gold": list(task.answer), "correct": answer_ok}
            if not task.updates and not task.inserts:
                partial = 1.0 if (answer_ok and state_ok) else 0.0
    except (KeyError, TypeError, ValueError) as exc:
        raise VerifierError(f"{task.task_id}: could not judge the final state: {type(exc).__name__}: {exc}") from exc
    success = state_ok and answer_ok
    return _verdict(success, 1.0 if success else partial, details)


def _verdict(success: bool, partial: float, details: dict[str, Any]) -> Verdict:
    partial = 1.0 if success else min(max(partial, 0.0), 1.0)
    return Verdict(success, 1.0 if success else 0.0, {"success": float(success), "partial": partial}, details)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()) == " ".join(b.split())
    return a == b


def _state_goal(task: WebTask, changes: Diff, details: dict[str, Any]) -> tuple[bool, float]:
    """(all required changes and nothing else, share of required changes made)."""
    wanted = {(u.table, u.key, u.column): u.value for u in task.updates}
    made, unrelated = 0, []
    for u in changes.updated:
        target = wanted.get((u.table, u.key, u.column))
        if target is not None and _same(u.new, target):
            made += 1
        else:
            unrelated.append(f"update {u.table}[{u.key}].{u.column}")
    unrelated += [f"delete {t}[{k}]" for t, rows in changes.deleted.items() for k in rows]
    required_tables = {i.table for i in task.inserts}
    new_ids = {t: next(iter(rows)) for t, rows in changes.inserted.items() if len(rows) == 1}
    for table, rows in changes.inserted.items():
        if table not in required_tables:
            unrelated += [f"insert {table}[{k}]" for k in rows]
    for table in required_tables:
        wanted_rows = [i for i in task.inserts if i.table == table]
        got = list(changes.inserted.get(table, {}).values())
        if len(got) > len(wanted_rows):
            unrelated.append(f"{len(got)} rows inserted into {table}, the goal needs {len(wanted_rows)}")
        for want in wanted_rows:
            match = next((row for row in got if _row_matches(row, want.fields, new_ids)), None)
            if match is not None:
                got.remove(match)
                made += 1
    needed = len(wanted) + len(task.inserts)
    details["goal"] = {"required": needed, "made": made, "unrelated": unrelated[:20]}
    if unrelated:
        return False, 0.0
    return made == needed, (made / needed if needed else 1.0)


def _row_matches(row: dict[str, Any], fields: tuple[tuple[str, str | int], ...], new_ids: dict[str, int]) -> bool:
    for column, value in fields:
        if isinstance(value, str) and value.startswith(NEW_ROW):
            ref = new_ids.get(value[len(NEW_ROW):])
            if ref is None or row.get(column) != ref:
                return False
        elif not _same(row.get(column), value):
            return False
    return True


def _purchase(task: WebTask, goal: PurchaseGoal, before: Snapshot, changes: Diff, details: dict[str, Any]) -> tuple[bool, float]:
    """(exactly one matching item bought and nothing else changed, WebShop's score of the bought item)."""
    orders = changes.inserted.get("orders", {})
    items = changes.inserted.get("order_items", {})
    unrelated = [f"update {u.table}[{u.key}].{u.column}" for u in changes.updated]
    unrelated += [f"delete {t}[{k}]" for t, rows in changes.deleted.items() for k in rows]
    unrelated += [f"insert {t}[{k}]" for t, rows in changes.inserted.items() if t not in ("orders", "order_items") for k in rows]
    if len(orders) > 1:
        unrelated.append(f"{len(orders)} orders placed, the goal is one purchase")
    order_ids = {k for k, row in orders.items() if row["user_id"] == task.user_id}
    if len(order_ids) != len(orders):
        unrelated.append("an order for another account")
    if any(row["status"] != "placed" for row in orders.values()):
        unrelated.append("the new order is no longer placed (cancelled or changed)")
    if any(row["order_id"] not in order_ids for row in items.values()):
        unrelated.append("order lines outside the new order")
    details["goal"] = {"unrelated": unrelated[:20], "items": len(items)}
    if unrelated or not items:
        return False, 0.0
    scores = [_webshop_score(goal, before, row) for row in items.values()]
    best = max(scores)
    details["goal"]["webshop_score"] = best
    exact = len(items) == 1 and next(iter(items.values()))["qty"] == 1
    return exact and best == 1.0, best


def _webshop_score(goal: PurchaseGoal, before: Snapshot, item: dict[str, Any]) -> float:
    """WebShop's reward for buying `item`: type gate x (attributes hit + options hit + price ok) / total."""
    product = before["products"].get(item["product_id"])
    if product is None:
        return 0.0
    if product["category"] != goal.category:
        return 0.0
    attrs = {r["attribute"] for r in before["product_attributes"].values() if r["product_id"] == item["product_id"]}
    hits = sum(a in attrs for a in goal.attributes)
    hits += sum(item.get(kind) == value for kind, value in goal.options)
    hits += item["price_cents"] <= goal.max_price_cents
    return hits / (len(goal.attributes) + len(goal.options) + 1)
