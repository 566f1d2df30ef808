"""``export``: the owner's data as a ZIP of CSVs, in the import formats.

Phases, as in the seed's ``build_export_zip``: load from the domain database;
format the CSVs (``jobs:formatting``, 50 %); write the ZIP
(``jobs:packing_zip``, 80 %). It checks between the phases and every 1,000 rows
while formatting. A cancel is its own error, :class:`ExportCancelled` (the
seed's ``ExportError::Cancelled``), and leaves no file behind: the ZIP is
written under a temporary name and renamed only when complete.

The files re-import as they are (``import.zip``): references are written as
``customer_external_id`` / ``customer_email`` and ``device_external_id`` /
``device_serial_number`` beside the internal ids. UTF-8 with a BOM and ``;``,
which is what Czech Excel opens without asking.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ipc import CancelReason

from . import _domain
from ._api import CancelShape, Category, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._errors import ProcessorError
from ._schemas import ExportCompleted

FORMAT_CHECK_EVERY = 1000
Table = Literal["customers", "devices", "revisions", "communications", "visits"]
ALL_TABLES: tuple[Table, ...] = ("customers", "devices", "revisions", "communications", "visits")

_CUSTOMER_REF = (
    "LEFT JOIN customers c ON c.id = t.customer_id AND c.owner_id = t.owner_id",
    "t.customer_id, c.external_id AS customer_external_id, c.email AS customer_email",
)
_DEVICE_REF = (
    "LEFT JOIN devices d ON d.id = t.device_id AND d.owner_id = t.owner_id",
    "t.device_id, d.external_id AS device_external_id, d.serial_number AS device_serial_number",
)
_REFS = {"customer_id": _CUSTOMER_REF, "device_id": _DEVICE_REF}
_TABLES = {t.name: t for t in _domain.TABLES}


def _columns(table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The joins for the table's references, and its own columns (the domain's)."""
    fields = _TABLES[table].fields
    return [_REFS[f] for f in fields if f in _REFS], [f for f in fields if f not in _REFS]


class ExportError(ProcessorError):
    """An export that cannot finish."""


class ExportCancelled(ExportError):
    """The export was cancelled between or inside its phases."""


class ExportPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: list[Table] = Field(default_factory=lambda: list(ALL_TABLES), min_length=1)


def export_dir(state_dir: Path, owner_id: str) -> Path:
    return state_dir / "exports" / owner_id


def export_path(state_dir: Path, owner_id: str, job_id: str) -> Path:
    return export_dir(state_dir, owner_id) / f"{job_id}.zip"


def _load(
    db: sqlite3.Connection, table: str, owner: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    joins, fields = _columns(table)
    refs = ", ".join(cols for _, cols in joins)
    select = ", ".join(["t.id", *(f"t.{f}" for f in fields)] + ([refs] if refs else []))
    sql = (
        f"SELECT {select} FROM {table} t {' '.join(j for j, _ in joins)}"
        " WHERE t.owner_id = ? ORDER BY t.id"
    )
    cur = db.execute(sql, (owner,))
    header = [d[0] for d in cur.description]
    return header, cur.fetchall()


def _stop_if_cancelled(ctx: JobContext) -> None:
    if ctx.cancelled:
        raise ExportCancelled("export cancelled")


def build_export_zip(ctx: JobContext, tables: list[Table]) -> tuple[dict[str, int], int, Path]:
    """Rows per table, ZIP size and path; raises :class:`ExportCancelled`."""
    # Phase 1: load.
    db = _domain.connect(ctx.state_dir)
    try:
        db.execute("BEGIN")  # one consistent snapshot of every table
        dataset = {t: _load(db, t, ctx.owner_id) for t in tables}
        db.execute("COMMIT")
    finally:
        db.close()
    _stop_if_cancelled(ctx)
    # Phase 2: format.
    ctx.phase("jobs:formatting", 50)
    files: dict[str, bytes] = {}
    for table, (header, rows) in dataset.items():
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        for i, row in enumerate(rows):
            if i % FORMAT_CHECK_EVERY == 0:
                _stop_if_cancelled(ctx)
            writer.writerow(row)
        files[f"{table}.csv"] = out.getvalue().encode("utf-8-sig")
    _stop_if_cancelled(ctx)
    # Phase 3: the ZIP, under a temporary name until it is complete.
    ctx.phase("jobs:packing_zip", 80)
    target = export_path(ctx.state_dir, ctx.owner_id, ctx.job_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
                _stop_if_cancelled(ctx)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {t: len(rows) for t, (_, rows) in dataset.items()}, target.stat().st_size, target


def run_export(ctx: JobContext, p: ExportPayload) -> dict[str, Any]:
    try:
        rows, size, path = build_export_zip(ctx, list(dict.fromkeys(p.tables)))
    except ExportCancelled:
        raise JobCancelled(
            CancelReason(ctx.cancelled or CancelReason.REQUESTED),
            {"type": "cancelled", "message": "jobs:cancelled_by_user"},
        ) from None
    return {"type": "completed", "result": {"file": path.name, "bytes": size, "rows": rows}}


SPEC = ProcessorSpec(
    name="export",
    category=Category.PHASES,
    run=run_export,
    payload_model=ExportPayload,
    check_every=FORMAT_CHECK_EVERY,
    cpu_bound=lambda _p: True,
    rerun_safe=True,
    cancel_shape=CancelShape.MESSAGE,
    completed_model=ExportCompleted,
    description="the owner's data as a ZIP of CSVs (fetch it with sazinkactl fetch)",
)
