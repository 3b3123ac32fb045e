"""Schema domains for generated databases: two entity tables joined by one fact table.

Every domain has the same shape (entity `left`, entity `right`, fact `fact` with a foreign key to each), so
one query grammar covers them all. Column names other than `id` and `name` are unique within a domain, so
a column name alone says which table it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass

# Column kinds: id (INTEGER PRIMARY KEY 1..n), name (unique TEXT), fk (INTEGER id of another table),
# cat (TEXT from `values`), int (INTEGER in [lo, hi]), real (REAL, 2 decimals, in [lo, hi]).
KINDS = ("id", "name", "fk", "cat", "int", "real")
SQL_TYPES = {"id": "INTEGER", "name": "TEXT", "fk": "INTEGER", "cat": "TEXT", "int": "INTEGER", "real": "REAL"}


@dataclass(frozen=True)
class Column:
    """One column: its kind, the phrase questions use for it, its value range and NULL rate."""

    name: str
    kind: str
    phrase: str = ""
    values: tuple[str, ...] = ()
    lo: float = 0
    hi: float = 0
    null_rate: float = 0.0
    unique: bool = False
    references: str = ""
    summable: bool = True

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]

    @property
    def nullable(self) -> bool:
        return self.null_rate > 0


@dataclass(frozen=True)
class Table:
    """One table; `noun`/`plural` name its rows in questions; `name_pool` says how `name` values are made."""

    name: str
    noun: str
    plural: str
    columns: tuple[Column, ...]
    name_pool: str = "person"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}; columns: {[c.name for c in self.columns]}")

    def of_kind(self, *kinds: str) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind in kinds)


@dataclass(frozen=True)
class Domain:
    """A schema: `left` and `right` entities and the `fact` table linking them (`fact_verb` for questions)."""

    name: str
    left: Table
    right: Table
    fact: Table
    fact_verb: str

    @property
    def tables(self) -> tuple[Table, Table, Table]:
        return (self.left, self.right, self.fact)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"domain {self.name!r} has no table {name!r}")

    def fk(self, entity: Table) -> Column:
        """The fact-table column referencing `entity`."""
        for c in self.fact.columns:
            if c.references == entity.name:
                return c
        raise KeyError(f"{self.fact.name} has no foreign key to {entity.name}")

    def ddl(self) -> str:
        """CREATE TABLE statements for the whole schema."""
        return "\n".join(create_table(t) for t in self.tables)


def create_table(table: Table) -> str:
    """The CREATE TABLE statement of one table."""
    parts = []
    for c in table.columns:
        decl = f"{c.name} {c.sql_type}"
        if c.kind == "id":
            decl += " PRIMARY KEY"
        elif not c.nullable:
            decl += " NOT NULL"
        if c.references:
            decl += f" REFERENCES {c.references}(id)"
        parts.append(decl)
    return f"CREATE TABLE {table.name} ({', '.join(parts)});"


def _id() -> Column:
    return Column("id", "id", "id")


def _name(phrase: str = "name") -> Column:
    return Column("name", "name", phrase, unique=True)


def _fk(name: str, table: str) -> Column:
    return Column(name, "fk", name, references=table)


CITIES = ("Lisbon", "Oslo", "Austin", "Nairobi", "Osaka", "Lima", "Perth", "Quebec")

DOMAINS: dict[str, Domain] = {
    "shop": Domain(
        "shop",
        Table("customers", "customer", "customers", (
            _id(), _name(), Column("city", "cat", "city", CITIES),
            Column("age", "int", "age", lo=18, hi=80, null_rate=0.15),
            Column("signup_year", "int", "signup year", lo=2015, hi=2024, summable=False),
        )),
        Table("products", "product", "products", (
            _id(), _name(), Column("category", "cat", "category", ("toys", "books", "garden", "kitchen", "sports")),
            Column("price", "real", "price", lo=1, hi=500, unique=True),
            Column("stock", "int", "stock", lo=0, hi=200, null_rate=0.1),
        ), name_pool="thing"),
        Table("orders", "order", "orders", (
            _id(), _fk("customer_id", "customers"), _fk("product_id", "products"),
            Column("quantity", "int", "quantity", lo=1, hi=10),
            Column("status", "cat", "status", ("shipped", "pending", "cancelled", "returned")),
            Column("discount", "real", "discount", lo=0, hi=50, null_rate=0.3),
        )),
        "placed",
    ),
    "school": Domain(
        "school",
        Table("students", "student", "students", (
            _id(), _name(), Column("major", "cat", "major", ("math", "history", "biology", "physics", "art")),
            Column("year", "int", "year of study", lo=1, hi=4, summable=False),
            Column("gpa", "real", "GPA", lo=1, hi=4, null_rate=0.15, unique=True),
        )),
        Table("courses", "course", "courses", (
            _id(), _name("title"), Column("department", "cat", "department", ("science", "humanities", "arts", "engineering")),
            Column("credits", "int", "credits", lo=1, hi=6),
            Column("fee", "real", "fee", lo=100, hi=2000, unique=True),
        ), name_pool="thing"),
        Table("enrollments", "enrollment", "enrollments", (
            _id(), _fk("student_id", "students"), _fk("course_id", "courses"),
            Column("grade", "int", "grade", lo=0, hi=100, null_rate=0.2),
            Column("semester", "cat", "semester", ("fall", "spring", "summer")),
            Column("hours", "int", "study hours", lo=1, hi=200),
        )),
        "took",
    ),
    "hospital": Domain(
        "hospital",
        Table("doctors", "doctor", "doctors", (
            _id(), _name(), Column("specialty", "cat", "specialty", ("cardiology", "oncology", "pediatrics", "neurology")),
            Column("experience", "int", "years of experience", lo=1, hi=40),
            Column("salary", "real", "salary", lo=50000, hi=300000, unique=True),
            Column("rating", "real", "patient rating", lo=1, hi=5, null_rate=0.2),
        )),
        Table("patients", "patient", "patients", (
            _id(), _name(), Column("hometown", "cat", "hometown", CITIES),
            Column("birth_year", "int", "birth year", lo=1940, hi=2020, summable=False),
            Column("insurance", "cat", "insurance plan", ("basic", "plus", "premium"), null_rate=0.25),
        )),
        Table("appointments", "appointment", "appointments", (
            _id(), _fk("doctor_id", "doctors"), _fk("patient_id", "patients"),
            Column("cost", "real", "cost", lo=20, hi=900),
            Column("visit_year", "int", "visit year", lo=2018, hi=2024, summable=False),
            Column("outcome", "cat", "outcome", ("recovered", "referred", "ongoing"), null_rate=0.2),
        )),
        "had",
    ),
    "flights": Domain(
        "flights",
        Table("airlines", "airline", "airlines", (
            _id(), _name(), Column("country", "cat", "country", ("France", "Japan", "Kenya", "Peru", "Canada")),
            Column("founded", "int", "founding year", lo=1920, hi=2015, summable=False),
            Column("fleet_size", "int", "fleet size", lo=5, hi=900, unique=True),
        ), name_pool="thing"),
        Table("passengers", "passenger", "passengers", (
            _id(), _name(), Column("nationality", "cat", "nationality", ("French", "Japanese", "Kenyan", "Peruvian")),
            Column("miles", "int", "frequent-flyer miles", lo=0, hi=500000, null_rate=0.2, unique=True),
            Column("birth_year", "int", "birth year", lo=1940, hi=2010, summable=False),
        )),
        Table("bookings", "booking", "bookings", (
            _id(), _fk("airline_id", "airlines"), _fk("passenger_id", "passengers"),
            Column("fare", "real", "fare", lo=40, hi=3000),
            Column("cabin", "cat", "cabin", ("economy", "premium", "business", "first")),
            Column("distance", "int", "distance", lo=100, hi=15000, null_rate=0.1),
        )),
        "made",
    ),
    "library": Domain(
        "library",
        Table("members", "member", "members", (
            _id(), _name(), Column("district", "cat", "district", ("north", "south", "east", "west", "centre")),
            Column("joined", "int", "joining year", lo=2000, hi=2024, summable=False),
            Column("fines", "real", "outstanding fines", lo=0, hi=80, null_rate=0.3),
        )),
        Table("books", "book", "books", (
            _id(), _name("title"), Column("genre", "cat", "genre", ("fiction", "poetry", "science", "travel", "crime")),
            Column("pages", "int", "page count", lo=40, hi=1200, unique=True),
            Column("published", "int", "publication year", lo=1850, hi=2024, summable=False, null_rate=0.1),
        ), name_pool="thing"),
        Table("loans", "loan", "loans", (
            _id(), _fk("member_id", "members"), _fk("book_id", "books"),
            Column("days", "int", "loan length in days", lo=1, hi=60),
            Column("channel", "cat", "channel", ("desk", "kiosk", "online")),
            Column("late_fee", "real", "late fee", lo=0, hi=20, null_rate=0.4),
        )),
        "borrowed",
    ),
}


def get_domain(name: str) -> Domain:
    """The domain called `name`, or a KeyError listing the known ones."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"unknown SQL domain {name!r}; known: {sorted(DOMAINS)}") from None
