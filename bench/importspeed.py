"""6. Import speed: import.customer rows per second, against the floor (the csv
module plus sqlite executemany, no validation) on the same file."""

from __future__ import annotations

import csv
import io
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from processors._domain import SCHEMA

from ._common import USER, Progress, daemon

OTHER = "be4c0000-0000-4000-8000-000000000002"


def make_csv(rows: int) -> bytes:
    lines = ["name;email;phone;street;city;postal_code;country;lat;lng"]
    for i in range(rows):
        lines.append(
            f"Zákazník {i};z{i}@example.cz;+420 777 {i % 1000:03d} {i % 997:03d};"
            f"Náměstí Míru {i % 200};Plzeň;301 00;CZ;49,{7400 + i % 99};13,{3700 + i % 97}"
        )
    return ("\n".join(lines) + "\n").encode("cp1250")


def floor(data: bytes) -> float:
    """Rows per second for decode + csv + executemany, nothing else."""
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(Path(d) / "floor.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        t0 = time.perf_counter()
        reader = csv.reader(io.StringIO(data.decode("cp1250"), newline=""), delimiter=";")
        next(reader)
        now = time.time()
        rows = [
            ("o", f"k{i}", None, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], now, now)
            for i, r in enumerate(reader)
        ]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO customers (owner_id, natural_key, external_id, name, email, phone, street,"
            " city, postal_code, country, lat, lng, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        db.close()
    return len(rows) / elapsed


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    """Best of three for the floor and best of two imports (by two owners, so both
    insert rather than update): the same treatment for both sides."""
    rows = 50_000 if quick else 200_000
    data = make_csv(rows)
    progress("import", f"floor on {rows} rows")
    floors = [floor(data) for _ in range(3)]
    rates, walls = [], []
    with daemon(threads=8) as d:
        for n, user in enumerate((USER, OTHER)):
            progress("import", f"import.customer on {rows} rows ({n + 1}/2)")
            with d.client(user) as c:
                t0 = time.perf_counter()
                job = c.submit("import.customer", file=data)["jobId"]
                doc = c.wait(job, timeout=1200)
                walls.append(time.perf_counter() - t0)
            if doc["state"] != "completed" or doc["status"]["succeeded"] != rows:
                raise RuntimeError(f"import did not complete cleanly: {doc['status']}")
            started = datetime.fromisoformat(doc["startedAt"].replace("Z", "+00:00"))
            finished = datetime.fromisoformat(doc["finishedAt"].replace("Z", "+00:00"))
            rates.append(rows / (finished - started).total_seconds())
    return {
        "rows": rows,
        "bytes": len(data),
        "floorRowsPerSecond": max(floors),
        "floorRuns": floors,
        "importRowsPerSecond": max(rates),
        "importRuns": rates,
        "importWallSeconds": min(walls),
        "ratioToFloor": max(rates) / max(floors),
    }
