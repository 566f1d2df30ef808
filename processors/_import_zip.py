"""``import.zip``: a ZIP holding any of the five CSVs, imported in dependency order.

Customers first, then devices, revisions, communications and visits, so every
reference can be resolved. The job checks before each file and, through the
shared engine, every 50 rows inside it. A cancel reports how many files were
completed: ``{"type": "cancelled", "completedFiles", "totalFiles"}``.

Hostile archives are refused before any row is written: a corrupt archive, an
encrypted member, an unknown member, a member or a total that inflates beyond
the limits, or a compression ratio no CSV reaches (a ZIP bomb). Sizes are
enforced while reading, not taken from the archive's own headers.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath
from typing import Any

from ._api import CancelShape, Category, FileUse, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._errors import JobFailed
from ._importer import CHECK_EVERY, ImportKind, import_bytes
from ._imports import KINDS, ImportPayload
from ._schemas import ZipCompleted

MAX_MEMBERS = 50
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed; CSVs compress ~5-20x
RATIO_FLOOR_BYTES = 1024 * 1024  # below this, any ratio is harmless

_BY_NAME = {k.file_name: k for k in KINDS}
_IGNORED_DIRS = ("__MACOSX/",)
_IGNORED_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")


def _ignored(name: str) -> bool:
    base = PurePosixPath(name).name
    return (
        name.endswith("/")
        or name.startswith(_IGNORED_DIRS)
        or base.startswith("._")
        or base in _IGNORED_FILES
    )


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    if info.flag_bits & 0x1:
        raise JobFailed(f"{info.filename} is encrypted")
    limit = min(MAX_MEMBER_BYTES, budget)
    try:
        with zf.open(info) as f:
            data = f.read(limit + 1)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise JobFailed(f"cannot read {info.filename}: {exc}") from None
    if len(data) > limit:
        which = "the archive's total" if budget < MAX_MEMBER_BYTES else "the limit per file"
        raise JobFailed(f"{info.filename} inflates beyond {which} ({limit} bytes): refused")
    if len(data) > RATIO_FLOOR_BYTES and len(data) > MAX_RATIO * max(info.compress_size, 1):
        raise JobFailed(
            f"{info.filename} inflates {len(data) // max(info.compress_size, 1)}x: "
            "refused as a ZIP bomb"
        )
    return data


def read_archive(raw: bytes) -> list[tuple[ImportKind, bytes]]:
    """The CSVs of the archive, in import order, or a clear :class:`JobFailed`."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise JobFailed(f"not a ZIP archive, or a corrupt one: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise JobFailed(f"the archive has {len(infos)} members; at most {MAX_MEMBERS}")
        found: dict[str, tuple[ImportKind, bytes]] = {}
        budget = MAX_TOTAL_BYTES
        for info in infos:
            if _ignored(info.filename):
                continue
            kind = _BY_NAME.get(PurePosixPath(info.filename).name.lower())
            if kind is None:
                raise JobFailed(
                    f"unknown member {info.filename!r}; expected any of: {', '.join(_BY_NAME)}"
                )
            if kind.file_name in found:
                raise JobFailed(f"the archive holds {kind.file_name} twice")
            data = _read_member(zf, info, budget)
            budget -= len(data)
            found[kind.file_name] = (kind, data)
    if not found:
        raise JobFailed(f"the archive holds none of: {', '.join(_BY_NAME)}")
    return [found[k.file_name] for k in KINDS if k.file_name in found]


def run_import_zip(ctx: JobContext, _payload: ImportPayload) -> dict[str, Any]:
    if ctx.file is None:
        raise JobFailed("import.zip needs a ZIP file")
    try:
        raw = ctx.file.read_bytes()
    except OSError as exc:
        raise JobFailed(f"cannot read the uploaded file: {exc.strerror}") from None
    files = read_archive(raw)
    n = len(files)
    # Progress is in rows across all files; line counts are a close estimate of the total.
    estimate = sum(max(data.count(b"\n") - 1, 1) for _, data in files)
    done_rows = 0
    results = []
    for i, (kind, data) in enumerate(files):

        def overall(processed: int, _total: int, base: int = done_rows) -> None:
            ctx.progress(base + processed, estimate)

        try:
            ctx.check()
            status = import_bytes(ctx, kind, data, progress=overall)
        except JobCancelled as stop:
            stop.status = {"type": "cancelled", "completedFiles": i, "totalFiles": n}
            raise
        except JobFailed as exc:
            raise JobFailed(f"{kind.file_name}: {exc}") from None
        done_rows += status["total"]
        results.append({"file": kind.file_name, **{k: v for k, v in status.items() if k != "type"}})
    return {
        "type": "completed",
        "files": results,
        "total": sum(r["total"] for r in results),
        "succeeded": sum(r["succeeded"] for r in results),
        "failed": sum(r["failed"] for r in results),
    }


SPEC = ProcessorSpec(
    name="import.zip",
    category=Category.LOOP,
    run=run_import_zip,
    payload_model=ImportPayload,
    check_every=CHECK_EVERY,
    cpu_bound=lambda _p: True,
    rerun_safe=True,
    file=FileUse.REQUIRED,
    cancel_shape=CancelShape.FILES,
    completed_model=ZipCompleted,
    description="a ZIP of the five CSVs, imported customers first",
)
