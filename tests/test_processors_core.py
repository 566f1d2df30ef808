"""Processor API, registry, the CSV engine and import.customer, in-process."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc import CancelReason, FlagTable
from processors import (
    Category,
    DuplicateProcessor,
    JobCancelled,
    JobContext,
    JobFailed,
    UnknownJobType,
    default_registry,
)
from processors._csv import decode, read_table, sniff_delimiter
from processors._importer import run_csv_import
from processors._imports import CUSTOMERS

OWNER = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def table() -> Iterator[FlagTable]:
    t = FlagTable.create(4)
    yield t
    t.close()
    t.unlink()


def _ctx(table: FlagTable, tmp_path: Path, data: bytes | None, owner: str = OWNER) -> JobContext:
    table.arm(0)
    f = None
    if data is not None:
        f = tmp_path / "upload.csv"
        f.write_bytes(data)
    return JobContext.bind(
        table, 0, job_id="j", job_type="import.customer", owner_id=owner, state_dir=tmp_path, file=f
    )


def _customers(tmp_path: Path, owner: str = OWNER) -> list[tuple[str, ...]]:
    with sqlite3.connect(tmp_path / "domain.sqlite") as db:
        return db.execute(
            "SELECT name, email, city, lat FROM customers WHERE owner_id=? ORDER BY id", (owner,)
        ).fetchall()


# -- registry ---------------------------------------------------------------


def test_registry_refuses_duplicates() -> None:
    reg = default_registry(diag=True)
    with pytest.raises(DuplicateProcessor):
        reg.register(reg.get("import.customer"))


def test_diag_is_registered_only_when_asked() -> None:
    assert "diag.spin" not in default_registry(diag=False)
    assert "diag.spin" in default_registry(diag=True)


def test_unknown_type() -> None:
    with pytest.raises(UnknownJobType):
        default_registry().get("import.nope")


def test_every_processor_has_a_typed_record() -> None:
    for spec in default_registry(diag=True):
        assert isinstance(spec.category, Category)
        assert spec.check_every >= 1


def test_job_cancelled_cannot_be_swallowed_by_except_exception() -> None:
    assert not issubclass(JobCancelled, Exception)

    def careless() -> None:
        try:
            raise JobCancelled(CancelReason.REQUESTED)
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail("swallowed")

    with pytest.raises(JobCancelled):
        careless()


def test_ctx_sleep_is_cut_short_by_the_cancel_from_another_process(
    table: FlagTable, tmp_path: Path
) -> None:
    """The supervisor raises the flag and futex-wakes the sleeper: here it is a
    separate process with its own mapping of the table."""
    import subprocess
    import sys

    table.arm(1)
    ctx = JobContext.bind(table, 1, job_id="j", job_type="t", owner_id=OWNER, state_dir=tmp_path)
    woken = threading.Event()
    result: list[bool] = []

    def sleeper() -> None:
        result.append(ctx.sleep(3600))
        woken.set()

    t = threading.Thread(target=sleeper)
    t.start()
    code = (
        "import sys; from ipc import CancelReason, FlagTable; "
        "t = FlagTable.attach(sys.argv[1]); t.request_cancel(1, CancelReason.REQUESTED); t.close()"
    )
    subprocess.run([sys.executable, "-c", code, table.name], check=True, timeout=60)
    assert woken.wait(60), "the sleeper was not woken"
    t.join()
    assert result == [True]
    assert ctx.sleep(3600) is True  # flag up: later sleeps do not wait at all
    with pytest.raises(JobCancelled) as info:
        ctx.check()
    assert info.value.reason is CancelReason.REQUESTED


def test_ctx_sleep_sleeps_its_time_when_nothing_happens(table: FlagTable, tmp_path: Path) -> None:
    import time

    table.arm(2)
    ctx = JobContext.bind(table, 2, job_id="j", job_type="t", owner_id=OWNER, state_dir=tmp_path)
    t0 = time.monotonic()
    assert ctx.sleep(0.05) is False
    assert time.monotonic() - t0 >= 0.05
    del ctx


# -- CSV engine -------------------------------------------------------------


def test_decode_utf8_bom_and_cp1250() -> None:
    text = "name\nŽluťoučký kůň\n"
    assert decode(text.encode("utf-8")) == (text, "utf-8")
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8-sig")
    assert decode(text.encode("cp1250")) == (text, "cp1250")


def test_sniff_semicolon_and_comma() -> None:
    assert sniff_delimiter("name;email;city") == ";"
    assert sniff_delimiter("name,email,city") == ","
    assert sniff_delimiter('"a;b",c') == ","
    assert sniff_delimiter("name") == ","


def test_missing_required_column_is_a_clear_failure() -> None:
    with pytest.raises(JobFailed, match="missing required column"):
        read_table(b"email,city\nx@y.cz,Brno\n", required=frozenset({"name"}), known=frozenset())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"name\x00\nx", "NUL"),
        (b"name,name\nx,y", "twice"),
    ],
)
def test_unusable_files(data: bytes, match: str) -> None:
    with pytest.raises(JobFailed, match=match):
        read_table(data, required=frozenset({"name"}), known=frozenset({"name"}))


# -- import.customer --------------------------------------------------------


def test_import_semicolon_cp1250_with_decimal_commas(table: FlagTable, tmp_path: Path) -> None:
    csv_text = "Name;E-mail;City;Lat;Lng\nJiří Novák;jiri@example.cz;Plzeň;49,74;13,37\n"
    ctx = _ctx(table, tmp_path, csv_text.encode("cp1250"))
    status = run_csv_import(ctx, CUSTOMERS)
    assert status == {
        "type": "completed",
        "total": 1,
        "succeeded": 1,
        "failed": 0,
        "errors": [],
        "errorsOmitted": 0,
    }
    assert _customers(tmp_path) == [("Jiří Novák", "jiri@example.cz", "Plzeň", 49.74)]
    del ctx


def test_bad_rows_are_reported_with_row_numbers_and_skipped(
    table: FlagTable, tmp_path: Path
) -> None:
    data = (
        b"name,email,lat,lng\n"
        b"Good One,a@b.cz,,\n"
        b",no-name@b.cz,,\n"
        b"Bad Mail,not-an-email,,\n"
        b"Half Coords,,50.1,\n"
        b"Too,many,1,2,3\n"
        b"Good Two,,50.1,14.4\n"
    )
    ctx = _ctx(table, tmp_path, data)
    status = run_csv_import(ctx, CUSTOMERS)
    assert status["total"] == 6
    assert status["succeeded"] == 2
    assert status["failed"] == 4
    rows = {e["row"]: e["message"] for e in status["errors"]}
    assert set(rows) == {3, 4, 5, 6}
    assert "name" in rows[3]
    assert "e-mail" in rows[4]
    assert "together" in rows[5]
    assert "fields" in rows[6]
    assert [r[0] for r in _customers(tmp_path)] == ["Good One", "Good Two"]
    del ctx


def test_rows_are_tagged_with_the_owner_and_upserted(table: FlagTable, tmp_path: Path) -> None:
    data = b"name,email,city\nA,a@x.cz,Brno\n"
    for owner in (OWNER, OTHER, OWNER):
        ctx = _ctx(table, tmp_path, data, owner=owner)
        run_csv_import(ctx, CUSTOMERS)
        del ctx
    assert len(_customers(tmp_path, OWNER)) == 1
    assert len(_customers(tmp_path, OTHER)) == 1


def test_cancel_mid_import_keeps_exactly_the_processed_rows(
    table: FlagTable, tmp_path: Path
) -> None:
    lines = ["name,email"] + [f"C{i},c{i}@x.cz" for i in range(1000)]
    ctx = _ctx(table, tmp_path, "\n".join(lines).encode())

    real_progress = JobContext.progress

    def progress_then_cancel(self: JobContext, processed: int, total: int) -> None:
        real_progress(self, processed, total)
        if processed >= 300:
            table.request_cancel(0, CancelReason.REQUESTED)

    JobContext.progress = progress_then_cancel  # type: ignore[method-assign]
    try:
        with pytest.raises(JobCancelled):
            run_csv_import(ctx, CUSTOMERS)
    finally:
        JobContext.progress = real_progress  # type: ignore[method-assign]
    assert (ctx.processed, ctx.total) == (300, 1000)
    assert len(_customers(tmp_path)) == 300
    del ctx
