"""The engine every CSV import shares: read, clean, validate, write, check.

A kind of import (customers, devices, ...) is an :class:`ImportKind`: its
columns, a pydantic validator for one row (native constraints only, so a row
costs no Python calls inside pydantic), optional cross-field checks, and how
to write a batch of valid rows.

Cancellation: the job checks every ``CHECK_EVERY`` rows. Rows are written in
one open transaction that is committed every ``COMMIT_EVERY`` rows and, above
all, before the job stops for any reason, so whatever it reported as processed
is in the database, and nothing beyond it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import _domain
from ._api import JobCancelled
from ._context import JobContext
from ._csv import read_table
from ._errors import JobFailed
from ._statuses import ErrorCollector, ImportCancelled, ImportCompleted

CHECK_EVERY = 50
COMMIT_EVERY = 2000

Row = dict[str, Any]
Writer = Callable[[sqlite3.Connection, str, Sequence[Row]], int]


@dataclass(frozen=True, slots=True)
class ImportKind:
    name: str
    columns: frozenset[str]
    required: frozenset[str]
    validator: TypeAdapter[Any]
    write: Writer
    #: columns that may use a decimal comma (Czech spreadsheets)
    numeric: frozenset[str] = frozenset()
    #: checks across columns; returns an error message or None
    check_row: Callable[[Row], str | None] | None = None
    #: what to say when a column does not match its pattern ("not an e-mail address")
    pattern_messages: Mapping[str, str] = field(default_factory=dict)


def describe(exc: ValidationError, pattern_messages: Mapping[str, str] | None = None) -> str:
    """``email: not an e-mail address; lat: Input should be a valid number``"""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if (
            err["type"] == "string_pattern_mismatch"
            and pattern_messages
            and loc in pattern_messages
        ):
            msg = pattern_messages[loc]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


class _Transaction:
    """One open write transaction, committed on demand."""

    __slots__ = ("_db", "open")

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.open = False

    def begin(self) -> None:
        if not self.open:
            self._db.execute("BEGIN IMMEDIATE")
            self.open = True

    def commit(self) -> None:
        if self.open:
            self._db.execute("COMMIT")
            self.open = False


def run_csv_import(ctx: JobContext, kind: ImportKind) -> dict[str, Any]:
    if ctx.file is None:
        raise JobFailed(f"{kind.name} needs a CSV file")
    try:
        data = ctx.file.read_bytes()
    except OSError as exc:
        raise JobFailed(f"cannot read the uploaded file: {exc.strerror}") from None
    table = read_table(data, required=kind.required, known=kind.columns)
    rows = table.rows
    total = len(rows)
    index = [(i, c) for i, c in enumerate(table.columns) if c in kind.columns]
    width = len(table.columns)
    numeric = kind.numeric
    validate = kind.validator.validate_python
    check_row = kind.check_row
    errors = ErrorCollector()
    succeeded = 0
    ctx.progress(0, total)
    db = _domain.connect(ctx.state_dir)
    tx = _Transaction(db)
    since_commit = 0
    try:
        for start in range(0, total, CHECK_EVERY):
            try:
                ctx.check()
            except JobCancelled as stop:
                tx.commit()  # everything before this checkpoint stays
                stop.status = ImportCancelled(
                    processed=start, total=total, succeeded=succeeded, failed=errors.count
                ).doc()
                raise
            chunk = rows[start : start + CHECK_EVERY]
            good: list[Row] = []
            for row_no, values in chunk:
                if len(values) > width and any(v.strip() for v in values[width:]):
                    errors.add(row_no, f"the row has {len(values)} fields, the header has {width}")
                    continue
                record: Row = {}
                for i, col in index:
                    if i < len(values):
                        v = values[i].strip()
                        if v:
                            record[col] = v.replace(",", ".") if col in numeric else v
                try:
                    row = validate(record)
                except ValidationError as exc:
                    errors.add(row_no, describe(exc, kind.pattern_messages))
                    continue
                problem = check_row(row) if check_row is not None else None
                if problem is not None:
                    errors.add(row_no, problem)
                    continue
                good.append(row)
            if good:
                tx.begin()
                succeeded += kind.write(db, ctx.owner_id, good)
            since_commit += len(chunk)
            if since_commit >= COMMIT_EVERY:
                tx.commit()
                since_commit = 0
            ctx.progress(start + len(chunk), total)
        tx.commit()
    finally:
        if tx.open:  # a failure: keep what was written and validated, as a cancel would
            tx.commit()
        db.close()
    return ImportCompleted(
        total=total,
        succeeded=succeeded,
        failed=errors.count,
        errors=errors.kept,
        errors_omitted=errors.omitted,
    ).doc()
