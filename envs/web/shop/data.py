"""Seeded shop data: users, catalogue (attributes, options, prices), orders, reviews; and the SQLite schema."""

from __future__ import annotations

import functools
import random
import sqlite3
from dataclasses import dataclass

from verigym.envs.web.framework import password_hash

TODAY = "2024-12-02"
SIZES = {"shirts": ("S", "M", "L", "XL"), "jackets": ("S", "M", "L", "XL"), "shoes": ("7", "8", "9", "10", "11")}
COLORS = ("black", "white", "navy", "red", "green", "grey", "beige", "blue")
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "shirts": ("Shirt", ("cotton", "linen", "organic", "slim fit", "long sleeve", "short sleeve", "wrinkle-free", "machine washable")),
    "shoes": ("Sneaker", ("waterproof", "leather", "vegan", "lightweight", "slip-on", "breathable", "non-slip", "wide fit")),
    "jackets": ("Jacket", ("waterproof", "insulated", "packable", "hooded", "windproof", "recycled", "down-filled", "reflective")),
    "backpacks": ("Backpack", ("waterproof", "laptop sleeve", "padded straps", "roll-top", "30 litre", "anti-theft", "recycled", "lightweight")),
    "mugs": ("Mug", ("ceramic", "dishwasher safe", "insulated", "stainless steel", "12 oz", "16 oz", "lidded", "microwave safe")),
    "lamps": ("Lamp", ("LED", "dimmable", "USB powered", "adjustable arm", "warm white", "cordless", "touch control", "clamp-on")),
}
BRANDS = ("Harbor", "Summit", "Aspen", "Cedar", "Nova", "Atlas", "Birch", "Coral", "Drift", "Ember", "Fjord", "Granite")
FIRST = ("Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena")
LAST = ("Moreau", "Okafor", "Lindqvist", "Tanaka", "Silva", "Novak", "Haddad", "Brennan", "Kowalski", "Ruiz")
STREETS = ("Oak Street", "Mill Lane", "Harbour Road", "King's Avenue", "Elm Close", "Station Road", "Rose Way", "Bridge Street")
CITIES = ("Leeds", "Bristol", "Porto", "Lyon", "Ghent", "Utrecht", "Graz", "Turku")
STATUSES = ("placed", "shipped", "delivered", "cancelled")
REVIEW_LINES = ("Does what it says.", "Great value for the price.", "Smaller than I expected.", "Would buy again.",
                "The colour is lovely.", "Broke after a month.", "Comfortable and well made.", "Arrived quickly.")

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
                    full_name TEXT NOT NULL, role TEXT NOT NULL);
CREATE TABLE addresses (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL UNIQUE, street TEXT NOT NULL,
                        city TEXT NOT NULL, zip TEXT NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price_cents INTEGER NOT NULL,
                       description TEXT NOT NULL);
CREATE TABLE product_attributes (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, attribute TEXT NOT NULL);
CREATE TABLE product_options (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, status TEXT NOT NULL, placed_on TEXT NOT NULL,
                     total_cents INTEGER NOT NULL, ship_street TEXT NOT NULL, ship_city TEXT NOT NULL, ship_zip TEXT NOT NULL);
CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, product_id INTEGER NOT NULL,
                          qty INTEGER NOT NULL, size TEXT NOT NULL, color TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, user_id INTEGER NOT NULL, stars INTEGER NOT NULL,
                      body TEXT NOT NULL, created_on TEXT NOT NULL);
CREATE TABLE cart_items (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL,
                         size TEXT NOT NULL, color TEXT NOT NULL);
CREATE TABLE sessions (sid TEXT PRIMARY KEY, user_id INTEGER, csrf TEXT NOT NULL);
"""
#: Tables whose changes are the session's own bookkeeping, never part of a goal's state.
VOLATILE_TABLES = frozenset({"sessions", "cart_items"})


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    category: str
    price_cents: int
    attributes: tuple[str, ...]
    sizes: tuple[str, ...]
    colors: tuple[str, ...]


@dataclass(frozen=True)
class ShopData:
    """Everything seeded into one shop database (rows as tuples in column order)."""

    seed: int
    users: tuple[tuple, ...]        # id, username, password, full_name, role
    addresses: tuple[tuple, ...]    # id, user_id, street, city, zip
    products: tuple[Product, ...]
    orders: tuple[tuple, ...]       # id, user_id, status, placed_on, total_cents, street, city, zip
    order_items: tuple[tuple, ...]  # id, order_id, product_id, qty, size, color, price_cents
    reviews: tuple[tuple, ...]      # id, product_id, user_id, stars, body, created_on

    def product(self, pid: int) -> Product:
        return self.products[pid - 1]


@functools.lru_cache(maxsize=16)
def generate(seed: int) -> ShopData:
    """The shop's seeded content for `seed` (pure; `random.Random(seed)` only)."""
    rng = random.Random(f"shop-data-{seed}")
    firsts = rng.sample(FIRST, 8)
    users = []
    for i, first in enumerate(firsts, start=1):
        last = rng.choice(LAST)
        users.append((i, f"{first.lower()}{rng.randint(10, 99)}", f"pw-{rng.randrange(16**8):08x}", f"{first} {last}", "customer"))
    users.append((9, "admin", f"pw-{rng.randrange(16**12):012x}", "Site Admin", "admin"))
    addresses = [(u[0], u[0], f"{rng.randint(1, 199)} {rng.choice(STREETS)}", rng.choice(CITIES), f"{rng.randint(10000, 99999)}")
                 for u in users]
    products: list[Product] = []
    for category, (noun, attrs) in CATEGORIES.items():
        for brand in rng.sample(BRANDS, 8):
            sizes = SIZES.get(category, ())
            if sizes:
                sizes = tuple(s for s in sizes if rng.random() < 0.75) or sizes[:2]
            colors = tuple(sorted(rng.sample(COLORS, rng.randint(2, 3)), key=COLORS.index))
            chosen = tuple(sorted(rng.sample(attrs, rng.randint(3, 4)), key=attrs.index))
            price = rng.randint(12 * 4, 160 * 4) * 25
            products.append(Product(len(products) + 1, f"{brand} {noun}", category, price, chosen, sizes, colors))
    orders, items = [], []
    day_pool = [f"2024-{m:02d}-{d:02d}" for m in range(1, 12) for d in range(1, 29)]
    for user in users[:-1]:
        for day in sorted(rng.sample(day_pool, rng.randint(7, 14))):
            oid = len(orders) + 1
            total = 0
            for product in rng.sample(products, rng.randint(1, 3)):
                qty = rng.choice((1, 1, 1, 2))
                size = rng.choice(product.sizes) if product.sizes else ""
                items.append((len(items) + 1, oid, product.id, qty, size, rng.choice(product.colors), product.price_cents))
                total += qty * product.price_cents
            status = rng.choice(STATUSES) if day < "2024-11-01" else rng.choice(("placed", "placed", "shipped"))
            _, street, city, zipcode = addresses[user[0] - 1][1:]
            orders.append((oid, user[0], status, day, total, street, city, zipcode))
    reviews = []
    for product in products:
        for reviewer in rng.sample(users[:-1], rng.randint(0, 4)):
            reviews.append((len(reviews) + 1, product.id, reviewer[0], rng.randint(1, 5), rng.choice(REVIEW_LINES), rng.choice(day_pool)))
    return ShopData(seed, tuple(users), tuple(addresses), tuple(products), tuple(orders), tuple(items), tuple(reviews))


def seed_database(data: ShopData, path: str) -> None:
    """Write `data` into a fresh SQLite file at `path`."""
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY;" + SCHEMA)
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                       [(i, u, password_hash(u, pw), n, r) for i, u, pw, n, r in data.users])
        db.executemany("INSERT INTO addresses VALUES (?, ?, ?, ?, ?)", data.addresses)
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)",
                       [(p.id, p.name, p.category, p.price_cents, describe(p)) for p in data.products])
        db.executemany("INSERT INTO product_attributes (product_id, attribute) VALUES (?, ?)",
                       [(p.id, a) for p in data.products for a in p.attributes])
        db.executemany("INSERT INTO product_options (product_id, kind, value) VALUES (?, ?, ?)",
                       [(p.id, "size", s) for p in data.products for s in p.sizes]
                       + [(p.id, "color", c) for p in data.products for c in p.colors])
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data.orders)
        db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?)", data.order_items)
        db.executemany("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?)", data.reviews)
        db.commit()
    finally:
        db.close()


def describe(product: Product) -> str:
    """The catalogue blurb of a product."""
    noun = CATEGORIES[product.category][0].lower()
    return f"A {', '.join(product.attributes)} {noun} from {product.name.split()[0]}."
