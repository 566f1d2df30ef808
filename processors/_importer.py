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

import operator
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import _domain
from ._api import JobCancelled
from ._context import JobContext
from ._csv import read_table
from ._domain import Resolver
from ._errors import JobFailed
from ._schemas import ImportCompleted, ProgressCancelled
from ._statuses import ErrorCollector, doc

CHECK_EVERY = 50
COMMIT_EVERY = 2000

Row = dict[str, Any]
Writer = Callable[[sqlite3.Connection, str, Sequence[Row]], int]


@dataclass(frozen=True, slots=True)
class ImportKind:
    name: str
    #: the member name inside an import.zip
    file_name: str
    columns: frozenset[str]
    required: frozenset[str]
    validator: TypeAdapter[Any]
    write: Writer
    #: header needs at least one column of each of these sets (e.g. a customer reference)
    one_of: tuple[frozenset[str], ...] = ()
    #: columns that may use a decimal comma (Czech spreadsheets)
    numeric: frozenset[str] = frozenset()
    #: columns holding a date or date-time, which may be written the Czech way (1.3.2024)
    dates: frozenset[str] = frozenset()
    #: columns compared case-insensitively (enumerations)
    lowercase: frozenset[str] = frozenset()
    #: checks across columns; returns an error message or None
    check_row: Callable[[Row], str | None] | None = None
    #: turns references (customer_external_id, ...) into ids; returns an error message or None
    resolve: Callable[[Resolver, Row], str | None] | None = None
    #: what to say when a column does not match its pattern ("not an e-mail address")
    pattern_messages: Mapping[str, str] = field(default_factory=dict)


_CZECH_DATE = re.compile(
    r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)


def iso_date(value: str) -> str:
    """``1. 3. 2024`` -> ``2024-03-01``; ``1.3.2024 8:05`` -> ``2024-03-01T08:05:00``;
    anything else is left for the validator to judge."""
    m = _CZECH_DATE.match(value)
    if m is None:
        return value
    d, mo, y, hh, mm, ss = m.groups()
    out = f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    if hh is not None:
        out += f"T{int(hh):02d}:{int(mm):02d}:{int(ss or 0):02d}"
    return out


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
    return import_bytes(ctx, kind, data)


def import_bytes(
    ctx: JobContext,
    kind: ImportKind,
    data: bytes,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Import one CSV held in memory. ``progress`` replaces ``ctx.progress`` (import.zip
    reports across files)."""
    table = read_table(data, required=kind.required, known=kind.columns)
    present = set(table.columns)
    for group in kind.one_of:
        if not group & present:
            raise JobFailed(
                f"{kind.file_name} needs one of the columns: {', '.join(sorted(group))}"
            )
    report = progress or ctx.progress
    rows = table.rows
    total = len(rows)
    width = len(table.columns)
    numeric, dates, lowercase = kind.numeric, kind.dates, kind.lowercase
    special = numeric | dates | lowercase
    known = [(i, c) for i, c in enumerate(table.columns) if c in kind.columns]
    plain_cols = [c for _, c in known if c not in special]
    plain_get = operator.itemgetter(*[i for i, c in known if c not in special], 0, 0)
    fixed = [(i, c) for i, c in known if c in special]
    padding = [""] * width
    validate = kind.validator.validator.validate_python  # pydantic-core's, without the wrapper
    check_row, resolve = kind.check_row, kind.resolve
    errors = ErrorCollector()
    succeeded = 0
    report(0, total)
    db = _domain.connect(ctx.state_dir)
    resolver = _domain.Resolver(db, ctx.owner_id)
    tx = _Transaction(db)
    since_commit = 0
    try:
        for start in range(0, total, CHECK_EVERY):
            try:
                ctx.check()
            except JobCancelled as stop:
                tx.commit()  # everything before this checkpoint stays
                stop.status = doc(
                    ProgressCancelled(
                        type="cancelled",
                        processed=start,
                        total=total,
                        succeeded=succeeded,
                        failed=errors.count,
                    )
                )
                raise
            chunk = rows[start : start + CHECK_EVERY]
            good: list[Row] = []
            for row_no, values in chunk:
                if len(values) != width:
                    if len(values) > width and any(v.strip() for v in values[width:]):
                        errors.add(
                            row_no, f"the row has {len(values)} fields, the header has {width}"
                        )
                        continue
                    values = (values + padding)[:width]  # spreadsheets drop empty trailing cells
                # (itemgetter always returns a tuple thanks to the two spare indexes)
                record: Row = {
                    c: v
                    for c, raw in zip(plain_cols, plain_get(values), strict=False)
                    if (v := raw.strip())
                }
                for i, col in fixed:
                    v = values[i].strip()
                    if v:
                        if col in numeric:
                            v = v.replace(",", ".")
                        elif col in dates:
                            v = iso_date(v)
                        else:
                            v = v.lower()
                        record[col] = v
                try:
                    row = validate(record)
                except ValidationError as exc:
                    errors.add(row_no, describe(exc, kind.pattern_messages))
                    continue
                problem = check_row(row) if check_row is not None else None
                if problem is None and resolve is not None:
                    problem = resolve(resolver, row)
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
            report(start + len(chunk), total)
        tx.commit()
    finally:
        if tx.open:  # a failure: keep what was written and validated, as a cancel would
            tx.commit()
        db.close()
    return doc(
        ImportCompleted(
            type="completed",
            total=total,
            succeeded=succeeded,
            failed=errors.count,
            errors=errors.kept,
            errorsOmitted=errors.omitted,
        )
    )
