"""Shop tasks from the seeded data: WebShop-style purchases, typed look-ups, and state changes."""

from __future__ import annotations

import random
from collections import Counter

from verigym.envs.web.shop.data import CATEGORIES, CITIES, STREETS, ShopData, generate
from verigym.envs.web.task import PlanStep, PurchaseGoal, RequiredInsert, RequiredUpdate, WebTask

PAGE_SIZE = 10
KINDS = ("purchase", "order-total", "order-date", "cancelled-count", "review-count", "order-products",
         "change-address", "cancel-order", "write-review")
WEIGHTS = (6, 2, 2, 1, 1, 2, 2, 2, 2)
REVIEW_TEXTS = ("Fits well and feels sturdy.", "Exactly as described, fast delivery.", "Good, but the colour is darker.",
                "Nice quality for the price.", "Not what I hoped for.")
DONE = "Done."


def generate_task(seed: int, kinds: tuple[str, ...] = ()) -> WebTask:
    """The shop task for `seed` (optionally limited to `kinds`)."""
    data = generate(seed)
    rng = random.Random(f"shop-task-{seed}")
    pool = [(k, w) for k, w in zip(KINDS, WEIGHTS) if not kinds or k in kinds]
    if not pool:
        raise ValueError(f"no shop task kinds in {kinds!r}; choose from {KINDS}")
    user = data.users[rng.randrange(8)]
    for _ in range(20):
        kind = rng.choices([k for k, _ in pool], [w for _, w in pool])[0]
        task = _BUILDERS[kind](data, user, rng, seed)
        if task is not None:
            return task
    raise ValueError(f"seed {seed}: no feasible shop task among {kinds or KINDS}")


def _task(seed: int, kind: str, intent: str, user: tuple, plan: list[PlanStep], **fields: object) -> WebTask:
    account = f"You are signed in to the shop as {user[1]} (password: {user[2]})."
    return WebTask(task_id=f"web-shop/{seed}", seed=seed, site="shop", kind=kind, intent=f"{intent}\n{account}",
                   username=user[1], password=user[2], user_id=user[0], plan=tuple(plan), **fields)  # type: ignore[arg-type]


def _user_orders(data: ShopData, uid: int) -> list[tuple]:
    return sorted((o for o in data.orders if o[1] == uid), key=lambda o: (o[3], o[0]), reverse=True)


def _open_order(data: ShopData, uid: int, oid: int) -> list[PlanStep]:
    """My orders -> as many 'Next page' clicks as needed -> the order's page."""
    position = [o[0] for o in _user_orders(data, uid)].index(oid)
    return ([PlanStep("click", "link:My orders")] + [PlanStep("click", "link:Next page")] * (position // PAGE_SIZE)
            + [PlanStep("click", f"link:Order #{oid}")])


def _open_product(name: str) -> list[PlanStep]:
    return [PlanStep("fill", "name:q", name), PlanStep("click", "button:Search"), PlanStep("click", f"link:{name}")]


def _dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _purchase(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    product = rng.choice(data.products)
    attrs = tuple(sorted(rng.sample(product.attributes, rng.randint(2, min(3, len(product.attributes)))),
                         key=product.attributes.index))
    options = ((("size", rng.choice(product.sizes)),) if product.sizes else ()) + (("color", rng.choice(product.colors)),)
    bound = (product.price_cents * 11 // 10 // 500 + 1) * 500
    matching = tuple(p.id for p in data.products if p.category == product.category and set(attrs) <= set(p.attributes)
                     and all(v in (p.sizes if k == "size" else p.colors) for k, v in options) and p.price_cents <= bound)
    noun = CATEGORIES[product.category][0].lower()
    wants = " and ".join(f"{k} {v}" for k, v in options)
    intent = (f"Buy exactly one {noun} that is {', '.join(attrs[:-1])} and {attrs[-1]}, in {wants}, "
              f"for at most ${_dollars(bound)}. Send a message when the order is placed.")
    plan = _open_product(product.name)
    plan += [PlanStep("select_option", f"name:{k}", v) for k, v in options]
    plan += [PlanStep("click", "button:Add to cart"), PlanStep("click", "link:Checkout"), PlanStep("click", "button:Place order"),
             PlanStep("send_msg_to_user", value=DONE)]
    goal = PurchaseGoal(product.category, attrs, options, bound, matching)
    return _task(seed, "purchase", intent, user, plan, purchase=goal)


def _order_total(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    order = rng.choice(_user_orders(data, user[0]))
    plan = _open_order(data, user[0], order[0]) + [PlanStep("send_msg_to_user", value=f"${_dollars(order[4])}")]
    return _task(seed, "order-total", f"What was the total of my order #{order[0]}? Answer with the amount.", user, plan,
                 answer_type="money", answer=(_dollars(order[4]),))


def _order_date(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask | None:
    orders = _user_orders(data, user[0])
    ids = {o[0] for o in orders}
    counts = Counter(i[2] for i in data.order_items if i[1] in ids)
    once = sorted(pid for pid, n in counts.items() if n == 1)
    if not once:
        return None
    pid = rng.choice(once)
    oid = next(i[1] for i in data.order_items if i[1] in ids and i[2] == pid)
    day = next(o[3] for o in orders if o[0] == oid)
    name = data.product(pid).name
    plan = _open_order(data, user[0], oid) + [PlanStep("send_msg_to_user", value=day)]
    return _task(seed, "order-date", f"On what date did I place the order that contains the {name}? Answer with the date.",
                 user, plan, answer_type="date", answer=(day,))


def _cancelled_count(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    orders = _user_orders(data, user[0])
    status = rng.choice(("cancelled", "delivered", "shipped"))
    n = sum(o[2] == status for o in orders)
    pages = (len(orders) - 1) // PAGE_SIZE
    plan = [PlanStep("click", "link:My orders")] + [PlanStep("click", "link:Next page")] * pages
    plan.append(PlanStep("send_msg_to_user", value=str(n)))
    return _task(seed, "cancelled-count", f"How many of my orders have the status '{status}'? Answer with a number.",
                 user, plan, answer_type="number", answer=(str(n),))


def _review_count(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    product = rng.choice(data.products)
    n = sum(r[1] == product.id for r in data.reviews)
    plan = _open_product(product.name) + [PlanStep("send_msg_to_user", value=str(n))]
    return _task(seed, "review-count", f"How many reviews does the {product.name} have? Answer with a number.", user, plan,
                 answer_type="number", answer=(str(n),))


def _order_products(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    order = rng.choice(_user_orders(data, user[0]))
    names = tuple(data.product(i[2]).name for i in data.order_items if i[1] == order[0])
    plan = _open_order(data, user[0], order[0]) + [PlanStep("send_msg_to_user", value=", ".join(names))]
    return _task(seed, "order-products", f"Which products were in my order #{order[0]}? List their names, comma-separated.",
                 user, plan, answer_type="names", answer=names)


def _change_address(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    aid, _, street, city, zipcode = data.addresses[user[0] - 1]
    new_street = f"{rng.randint(200, 399)} {rng.choice(STREETS)}"
    new_city = rng.choice([c for c in CITIES if c != city])
    new_zip = f"{rng.randint(10000, 99999)}"
    while new_zip == zipcode:
        new_zip = f"{rng.randint(10000, 99999)}"
    plan = [PlanStep("click", "link:Account"), PlanStep("fill", "name:street", new_street), PlanStep("fill", "name:city", new_city),
            PlanStep("fill", "name:zip", new_zip), PlanStep("click", "button:Save address"), PlanStep("send_msg_to_user", value=DONE)]
    updates = (RequiredUpdate("addresses", aid, "street", new_street), RequiredUpdate("addresses", aid, "city", new_city),
               RequiredUpdate("addresses", aid, "zip", new_zip))
    intent = f"I moved. Change my shipping address to {new_street}, {new_city}, postcode {new_zip}, then tell me you are done."
    return _task(seed, "change-address", intent, user, plan, updates=updates)


def _cancel_order(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask | None:
    placed = [o for o in _user_orders(data, user[0]) if o[2] == "placed"]
    if not placed:
        return None
    order = rng.choice(placed)
    plan = _open_order(data, user[0], order[0]) + [PlanStep("click", f"button:Cancel order #{order[0]}"),
                                                   PlanStep("send_msg_to_user", value=DONE)]
    return _task(seed, "cancel-order", f"Cancel my order #{order[0]}, then tell me you are done.", user, plan,
                 updates=(RequiredUpdate("orders", order[0], "status", "cancelled"),))


def _write_review(data: ShopData, user: tuple, rng: random.Random, seed: int) -> WebTask:
    product = rng.choice(data.products)
    stars, text = rng.randint(1, 5), rng.choice(REVIEW_TEXTS)
    plan = _open_product(product.name) + [PlanStep("select_option", "name:stars", str(stars)), PlanStep("fill", "name:body", text),
                                          PlanStep("click", "button:Post review"), PlanStep("send_msg_to_user", value=DONE)]
    insert = RequiredInsert("reviews", (("product_id", product.id), ("user_id", user[0]), ("stars", stars), ("body", text)))
    intent = f'Post a {stars}-star review of the {product.name} with the text "{text}", then tell me you are done.'
    return _task(seed, "write-review", intent, user, plan, inserts=(insert,))


_BUILDERS = {
    "purchase": _purchase, "order-total": _order_total, "order-date": _order_date, "cancelled-count": _cancelled_count,
    "review-count": _review_count, "order-products": _order_products, "change-address": _change_address,
    "cancel-order": _cancel_order, "write-review": _write_review,
}
