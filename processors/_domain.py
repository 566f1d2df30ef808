"""The domain database: the CRM data that imports write and exports read.

SQLite in ``state_dir``, WAL, every row tagged with its owner's user id; one
owner never reads or writes another's rows (every statement here filters on
``owner_id``). The schema lives here and nowhere else.

customers ─┬─< devices ──< revisions
           ├─< communications
           └─< visits >── devices (optional)

Each table has a ``natural_key``, unique per owner, that makes re-imports
update rather than duplicate: the row's ``external_id`` when it has one,
otherwise the columns that identify it (see the ``*_key`` functions).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

DB_NAME = "domain.sqlite"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id           INTEGER PRIMARY KEY,
    owner_id     TEXT NOT NULL,
    natural_key  TEXT NOT NULL,
    external_id  TEXT,
    name         TEXT NOT NULL,
    email        TEXT,
    phone        TEXT,
    street       TEXT,
    city         TEXT,
    postal_code  TEXT,
    country      TEXT,
    lat          REAL,
    lng          REAL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    UNIQUE (owner_id, natural_key)
);
CREATE INDEX IF NOT EXISTS customers_external ON customers (owner_id, external_id);
CREATE INDEX IF NOT EXISTS customers_email ON customers (owner_id, email COLLATE NOCASE);

CREATE TABLE IF NOT EXISTS devices (
    id                       INTEGER PRIMARY KEY,
    owner_id                 TEXT NOT NULL,
    natural_key              TEXT NOT NULL,
    external_id              TEXT,
    customer_id              INTEGER NOT NULL REFERENCES customers (id),
    device_type              TEXT NOT NULL,
    manufacturer             TEXT,
    model                    TEXT,
    serial_number            TEXT,
    installed_on             TEXT,
    revision_interval_months INTEGER,
    note                     TEXT,
    created_at               REAL NOT NULL,
    updated_at               REAL NOT NULL,
    UNIQUE (owner_id, natural_key)
);
CREATE INDEX IF NOT EXISTS devices_external ON devices (owner_id, external_id);
CREATE INDEX IF NOT EXISTS devices_serial ON devices (owner_id, serial_number);
CREATE INDEX IF NOT EXISTS devices_customer ON devices (customer_id);

CREATE TABLE IF NOT EXISTS revisions (
    id            INTEGER PRIMARY KEY,
    owner_id      TEXT NOT NULL,
    natural_key   TEXT NOT NULL,
    external_id   TEXT,
    device_id     INTEGER NOT NULL REFERENCES devices (id),
    revision_date TEXT NOT NULL,
    result        TEXT,
    next_due      TEXT,
    technician    TEXT,
    note          TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    UNIQUE (owner_id, natural_key)
);

CREATE TABLE IF NOT EXISTS communications (
    id           INTEGER PRIMARY KEY,
    owner_id     TEXT NOT NULL,
    natural_key  TEXT NOT NULL,
    external_id  TEXT,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    kind         TEXT NOT NULL,
    direction    TEXT,
    occurred_at  TEXT NOT NULL,
    subject      TEXT,
    body         TEXT,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    UNIQUE (owner_id, natural_key)
);

CREATE TABLE IF NOT EXISTS visits (
    id               INTEGER PRIMARY KEY,
    owner_id         TEXT NOT NULL,
    natural_key      TEXT NOT NULL,
    external_id      TEXT,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    device_id        INTEGER REFERENCES devices (id),
    visited_on       TEXT NOT NULL,
    duration_minutes INTEGER,
    technician       TEXT,
    result           TEXT,
    work_done        TEXT,
    note             TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    UNIQUE (owner_id, natural_key)
);
"""

Row = Mapping[str, Any]


def connect(state_dir: Path) -> sqlite3.Connection:
    # Dates are stored as ISO text. (Python 3.12 deprecates sqlite3's own date
    # adapters; registering ours is idempotent.)
    sqlite3.register_adapter(date, date.isoformat)
    sqlite3.register_adapter(datetime, datetime.isoformat)
    conn = sqlite3.connect(state_dir / DB_NAME, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version < SCHEMA_VERSION:
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


def _norm(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return text.strip().lower()


@dataclass(frozen=True)
class Table:
    """A domain table: which row keys are written, and what identifies a row."""

    name: str
    fields: tuple[str, ...]
    natural_key: Callable[[Row], str]

    @cached_property
    def upsert_sql(self) -> str:
        cols = ", ".join(self.fields)
        marks = ", ".join("?" for _ in self.fields)
        updates = ", ".join(f"{f} = excluded.{f}" for f in self.fields)
        return (
            f"INSERT INTO {self.name} (owner_id, natural_key, {cols}, created_at, updated_at)"
            f" VALUES (?, ?, {marks}, ?, ?)"
            f" ON CONFLICT (owner_id, natural_key) DO UPDATE SET {updates},"
            " updated_at = excluded.updated_at"
        )

    def upsert(self, conn: sqlite3.Connection, owner_id: str, rows: Iterable[Row]) -> int:
        """Insert or update, inside the caller's transaction; returns the rows written."""
        now = time.time()
        key = self.natural_key
        fields = self.fields
        params = [(owner_id, key(r), *map(r.get, fields), now, now) for r in rows]
        conn.executemany(self.upsert_sql, params)
        return len(params)


def customer_key(r: Row) -> str:
    """External id, else e-mail, else name + address."""
    if r.get("external_id"):
        return "ext:" + str(r["external_id"])
    if r.get("email"):
        return "email:" + str(r["email"]).lower()
    return "addr:" + "|".join(_norm(r.get(c)) for c in ("name", "street", "city", "postal_code"))


def device_key(r: Row) -> str:
    """External id, else serial number, else customer + type + model."""
    if r.get("external_id"):
        return "ext:" + str(r["external_id"])
    if r.get("serial_number"):
        return "sn:" + _norm(r["serial_number"])
    return "c:" + "|".join(_norm(r.get(c)) for c in ("customer_id", "device_type", "model"))


def revision_key(r: Row) -> str:
    if r.get("external_id"):
        return "ext:" + str(r["external_id"])
    return "d:" + "|".join(_norm(r.get(c)) for c in ("device_id", "revision_date"))


def communication_key(r: Row) -> str:
    if r.get("external_id"):
        return "ext:" + str(r["external_id"])
    cols = ("customer_id", "kind", "occurred_at", "subject")
    return "c:" + "|".join(_norm(r.get(c)) for c in cols)


def visit_key(r: Row) -> str:
    if r.get("external_id"):
        return "ext:" + str(r["external_id"])
    return "c:" + "|".join(_norm(r.get(c)) for c in ("customer_id", "visited_on", "device_id"))


CUSTOMER_FIELDS = (
    "external_id",
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "lat",
    "lng",
)

CUSTOMERS = Table("customers", CUSTOMER_FIELDS, customer_key)
DEVICES = Table(
    "devices",
    (
        "external_id",
        "customer_id",
        "device_type",
        "manufacturer",
        "model",
        "serial_number",
        "installed_on",
        "revision_interval_months",
        "note",
    ),
    device_key,
)
REVISIONS = Table(
    "revisions",
    ("external_id", "device_id", "revision_date", "result", "next_due", "technician", "note"),
    revision_key,
)
COMMUNICATIONS = Table(
    "communications",
    ("external_id", "customer_id", "kind", "direction", "occurred_at", "subject", "body"),
    communication_key,
)
VISITS = Table(
    "visits",
    (
        "external_id",
        "customer_id",
        "device_id",
        "visited_on",
        "duration_minutes",
        "technician",
        "result",
        "work_done",
        "note",
    ),
    visit_key,
)
TABLES = (CUSTOMERS, DEVICES, REVISIONS, COMMUNICATIONS, VISITS)


def upsert_customers(conn: sqlite3.Connection, owner_id: str, rows: Iterable[Row]) -> int:
    return CUSTOMERS.upsert(conn, owner_id, rows)


def count(conn: sqlite3.Connection, table: Table, owner_id: str) -> int:
    (n,) = conn.execute(
        f"SELECT count(*) FROM {table.name} WHERE owner_id = ?", (owner_id,)
    ).fetchone()
    return int(n)


def count_customers(conn: sqlite3.Connection, owner_id: str) -> int:
    return count(conn, CUSTOMERS, owner_id)


class Resolver:
    """Finds the customer or device a row refers to, for one owner; remembers answers."""

    def __init__(self, conn: sqlite3.Connection, owner_id: str) -> None:
        self._conn = conn
        self._owner = owner_id
        self._cache: dict[tuple[str, str, str], int | None] = {}

    def _find(self, table: str, by: tuple[tuple[str, str | None, str], ...]) -> int | str | None:
        """The id of the owner's row matched by the first given ``(column, value,
        label)``; an error message if it matches nothing; None if no value is given."""
        for column, value, label in by:
            if not value:
                continue
            cache_key = (table, column, value)
            if cache_key not in self._cache:
                collate = " COLLATE NOCASE" if column == "email" else ""
                row = self._conn.execute(
                    f"SELECT id FROM {table} WHERE owner_id = ? AND {column} = ?{collate}"
                    " ORDER BY id LIMIT 1",
                    (self._owner, value),
                ).fetchone()
                self._cache[cache_key] = int(row[0]) if row else None
            found = self._cache[cache_key]
            return found if found is not None else f"no {table[:-1]} with {label} {value!r}"
        return None

    def customer(self, external_id: str | None, email: str | None) -> int | str:
        """The customer's id, or an error message."""
        found = self._find(
            "customers", (("external_id", external_id, "external_id"), ("email", email, "e-mail"))
        )
        if found is None:
            return "the row names no customer (customer_external_id or customer_email)"
        return found

    def device(self, external_id: str | None, serial: str | None) -> int | str | None:
        """The device's id, an error message, or None when the row names none."""
        return self._find(
            "devices",
            (
                ("external_id", external_id, "external_id"),
                ("serial_number", serial, "serial number"),
            ),
        )
