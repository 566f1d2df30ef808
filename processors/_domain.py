"""The domain database: the CRM data that imports write and exports read.

SQLite in ``state_dir``, WAL, every row tagged with its owner's user id. The
schema lives here and nowhere else.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DB_NAME = "domain.sqlite"

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
"""

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

_UPSERT_CUSTOMER = f"""
INSERT INTO customers (owner_id, natural_key, {", ".join(CUSTOMER_FIELDS)}, created_at, updated_at)
VALUES (?, ?, {", ".join("?" for _ in CUSTOMER_FIELDS)}, ?, ?)
ON CONFLICT (owner_id, natural_key) DO UPDATE SET
    {", ".join(f"{f} = excluded.{f}" for f in CUSTOMER_FIELDS)},
    updated_at = excluded.updated_at
"""


def connect(state_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(state_dir / DB_NAME, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


def customer_key(external_id: str | None, email: str | None, parts: Sequence[str | None]) -> str:
    """What makes two rows the same customer: external id, else e-mail, else name+address."""
    if external_id:
        return "ext:" + external_id
    if email:
        return "email:" + email.lower()
    return "addr:" + "|".join((p or "").strip().lower() for p in parts)


def upsert_customers(
    conn: sqlite3.Connection, owner_id: str, rows: Iterable[dict[str, Any]]
) -> int:
    """Insert or update, inside the caller's transaction; returns the rows written."""
    now = time.time()
    params = [
        (
            owner_id,
            customer_key(
                r.get("external_id"),
                r.get("email"),
                (r["name"], r.get("street"), r.get("city"), r.get("postal_code")),
            ),
            *[r.get(f) for f in CUSTOMER_FIELDS],
            now,
            now,
        )
        for r in rows
    ]
    conn.executemany(_UPSERT_CUSTOMER, params)
    return len(params)


def count_customers(conn: sqlite3.Connection, owner_id: str) -> int:
    (n,) = conn.execute("SELECT count(*) FROM customers WHERE owner_id = ?", (owner_id,)).fetchone()
    return int(n)
