"""The journal and the history, in one SQLite file in ``state_dir``.

* ``jobs`` holds every accepted job that is not finished yet. A job is durable
  before ``submit`` answers: the answer waits for the commit.
* ``history`` holds finished jobs (the seed's JobHistoryEntry, with the user
  id), with bounded retention. Finishing a job moves its row from ``jobs`` to
  ``history`` in one transaction, so history rows are in completion order by
  rowid (which the admin listing and the pruning use instead of an index).

Writes are group-committed: everything queued during one turn of the event loop
goes into one transaction, so throughput does not pay one commit per job.

* ``sync="normal"`` (durable against a crash of the process; WAL commits are a
  write to the log, no fsync) commits on the loop itself, at the end of the turn:
  a commit costs tens of microseconds, less than a hop to a thread and back.
* ``sync="full"`` (durable against power loss) fsyncs, which can take
  milliseconds, so it commits on a writer thread; whatever is queued while one
  commit runs goes into the next.

Reads run on the caller's thread over a second connection (WAL lets them
proceed beside the writer).

The supervisor depends only on :class:`JobStore`, so another backend (a
replicated log, JetStream) can take its place.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol

from ipc import Limits, pack, unpack

from ._errors import Internal
from ._jobs import Job
from ._states import JobState

log = logging.getLogger("sazinka.store")

DB_NAME = "journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq          INTEGER PRIMARY KEY,  -- rowid: new rows always sort after existing ones
    id           TEXT NOT NULL UNIQUE,
    owner        TEXT NOT NULL,
    type         TEXT NOT NULL,
    state        TEXT NOT NULL,
    payload      BLOB NOT NULL,  -- msgpack
    file         TEXT,
    submitted_at REAL NOT NULL,
    started_at   REAL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    job_type     TEXT NOT NULL,
    status       TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    started_at   REAL,
    completed_at REAL NOT NULL,
    error        TEXT,
    details      BLOB  -- msgpack: the final status document
);
CREATE INDEX IF NOT EXISTS history_user ON history (user_id, completed_at DESC);
"""

_INSERT_JOB = (
    "INSERT INTO jobs (id, owner, type, state, payload, file, submitted_at, started_at, attempts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_JOB = "UPDATE jobs SET state = ?, started_at = ?, attempts = ? WHERE id = ?"
_DELETE_JOB = "DELETE FROM jobs WHERE id = ?"
_INSERT_HISTORY = (
    "INSERT OR REPLACE INTO history (id, user_id, job_type, status, submitted_at, started_at,"
    " completed_at, error, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

Op = tuple[str, Sequence[Sequence[Any]]]

_LIMITS = Limits(max_bytes=1 << 30, max_items=1 << 24)  # our own rows: trust, but bound


def _unpack(blob: bytes) -> Any:
    return unpack(blob, _LIMITS)


class JobStore(Protocol):
    """What the supervisor needs from a journal. Writes resolve once durable."""

    def recover(self) -> list[Job]: ...
    def add(self, jobs: Sequence[Job]) -> asyncio.Future[None]: ...
    def save(self, job: Job) -> asyncio.Future[None]: ...
    def finish(self, job: Job) -> asyncio.Future[None]: ...
    def finished(self, job_id: str) -> Job | None: ...
    def history(self, owner: str | None, limit: int) -> tuple[list[Job], int]: ...
    def prune(self, *, max_age_s: float, max_entries: int) -> asyncio.Future[None]: ...
    async def close(self) -> None: ...


def _job_row(j: Job) -> tuple[Any, ...]:
    return (
        j.id,
        j.owner,
        j.type,
        j.state.value,
        pack(j.payload),
        j.file,
        j.submitted_at,
        j.started_at,
        j.attempts,
    )


def _history_row(j: Job) -> tuple[Any, ...]:
    return (
        j.id,
        j.owner,
        j.type,
        j.state.value,
        j.submitted_at,
        j.started_at,
        j.finished_at,
        j.error,
        pack(j.status) if j.status is not None else None,
    )


def _job_from_history(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        owner=row["user_id"],
        type=row["job_type"],
        payload={},
        submitted_at=row["submitted_at"],
        state=JobState(row["status"]),
        started_at=row["started_at"],
        finished_at=row["completed_at"],
        error=row["error"],
        status=_unpack(row["details"]) if row["details"] is not None else None,
    )


class SqliteStore:
    """:class:`JobStore` on SQLite with WAL and group commit."""

    def __init__(
        self,
        state_dir: Path,
        *,
        sync: Literal["normal", "full"] = "normal",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        path = state_dir / DB_NAME
        self._loop = loop
        self._inline = sync == "normal"
        self._writer = self._open(path, sync, check_same_thread=self._inline)
        self._reader = self._open(path, sync, check_same_thread=True)
        self._exec = None if self._inline else ThreadPoolExecutor(1, thread_name_prefix="journal")
        self._pending: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flush_soon = False
        self.commits = 0  # transactions committed (for stats and tests)

    @staticmethod
    def _open(path: Path, sync: str, *, check_same_thread: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=30.0, check_same_thread=check_same_thread
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync.upper()}")
        conn.executescript(_SCHEMA)
        return conn

    # -- reads (caller's thread) ------------------------------------------------

    def recover(self) -> list[Job]:
        rows = self._reader.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        return [
            Job(
                id=r["id"],
                owner=r["owner"],
                type=r["type"],
                payload=_unpack(r["payload"]),
                submitted_at=r["submitted_at"],
                state=JobState(r["state"]),
                file=r["file"],
                started_at=r["started_at"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    def finished(self, job_id: str) -> Job | None:
        row = self._reader.execute("SELECT * FROM history WHERE id = ?", (job_id,)).fetchone()
        return _job_from_history(row) if row else None

    def history(self, owner: str | None, limit: int) -> tuple[list[Job], int]:
        """Most recent first. ``owner=None`` means every owner (admin)."""
        if owner is None:
            rows = self._reader.execute(
                "SELECT * FROM history ORDER BY rowid DESC LIMIT ?", (limit,)
            ).fetchall()
            (total,) = self._reader.execute("SELECT count(*) FROM history").fetchone()
        else:
            rows = self._reader.execute(
                "SELECT * FROM history WHERE user_id = ? ORDER BY completed_at DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
            (total,) = self._reader.execute(
                "SELECT count(*) FROM history WHERE user_id = ?", (owner,)
            ).fetchone()
        return [_job_from_history(r) for r in rows], int(total)

    # -- writes (group-committed) -------------------------------------------------

    def add(self, jobs: Sequence[Job]) -> asyncio.Future[None]:
        return self._enqueue([(_INSERT_JOB, [_job_row(j) for j in jobs])])

    def save(self, job: Job) -> asyncio.Future[None]:
        return self._enqueue(
            [(_UPDATE_JOB, [(job.state.value, job.started_at, job.attempts, job.id)])]
        )

    def finish(self, job: Job) -> asyncio.Future[None]:
        if not job.state.terminal or job.finished_at is None:
            raise Internal(f"job {job.id} is not finished ({job.state})")
        return self._enqueue([(_DELETE_JOB, [(job.id,)]), (_INSERT_HISTORY, [_history_row(job)])])

    def prune(self, *, max_age_s: float, max_entries: int) -> asyncio.Future[None]:
        cutoff = time.time() - max_age_s
        return self._enqueue(
            [
                ("DELETE FROM history WHERE completed_at < ?", [(cutoff,)]),
                (
                    "DELETE FROM history WHERE rowid <= (SELECT rowid FROM history"
                    " ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                    [(max_entries,)],
                ),
            ]
        )

    def _enqueue(self, ops: list[Op]) -> asyncio.Future[None]:
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((ops, fut))
        if self._inline:
            if not self._flush_soon:
                self._flush_soon = True
                loop.call_soon(self._flush_inline)
        elif self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return fut

    def _flush_inline(self) -> None:
        self._flush_soon = False
        batch, self._pending = self._pending, []
        if batch:
            self._settle(batch, self._commit(batch))

    def _commit(self, batch: list[tuple[list[Op], asyncio.Future[None]]]) -> list[Exception | None]:
        try:
            return list(self._write([ops for ops, _ in batch]))
        except sqlite3.Error as exc:  # the commit itself failed: nothing is durable
            log.critical("journal commit failed: %s", exc)
            return [exc] * len(batch)

    @staticmethod
    def _settle(
        batch: list[tuple[list[Op], asyncio.Future[None]]], errors: Sequence[Exception | None]
    ) -> None:
        for (_, fut), err in zip(batch, errors, strict=True):
            if fut.done():
                continue
            if err is None:
                fut.set_result(None)
            else:
                fut.set_exception(Internal(f"journal write failed: {err}"))

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                errors = await loop.run_in_executor(self._exec, self._commit, batch)
                self._settle(batch, errors)
        finally:
            self._flusher = None

    def _write(self, groups: list[list[Op]]) -> list[sqlite3.Error | None]:
        """One transaction for every caller's writes. Consecutive statements of the
        same kind go into one ``executemany``. If anything fails, the batch is rolled
        back and replayed with a savepoint per caller, so one bad write fails only
        its own caller."""
        conn = self._writer
        merged: list[tuple[str, list[Sequence[Any]]]] = []
        for ops in groups:
            for sql, params in ops:
                if merged and merged[-1][0] == sql:
                    merged[-1][1].extend(params)
                else:
                    merged.append((sql, list(params)))
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in merged:
                conn.executemany(sql, params)
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            return self._write_one_by_one(groups)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.commits += 1
        return [None] * len(groups)

    def _write_one_by_one(self, groups: list[list[Op]]) -> list[sqlite3.Error | None]:
        conn = self._writer
        errors: list[sqlite3.Error | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for ops in groups:
                conn.execute("SAVEPOINT op")
                try:
                    for sql, params in ops:
                        conn.executemany(sql, params)
                except sqlite3.Error as exc:
                    log.error("journal write rolled back: %s", exc)
                    conn.execute("ROLLBACK TO op")
                    errors.append(exc)
                else:
                    errors.append(None)
                conn.execute("RELEASE op")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.commits += 1
        return errors

    async def drain(self) -> None:
        """Wait until every write queued so far is committed."""
        if self._inline:
            self._flush_inline()
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def close(self) -> None:
        await self.drain()
        if self._exec is not None:
            self._exec.shutdown(wait=True)
        self._writer.close()
        self._reader.close()
