"""The five CSV imports through the shared engine, in-process."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc import FlagTable
from processors import JobContext, JobFailed
from processors._csv import decode
from processors._import_zip import read_archive, run_import_zip
from processors._importer import ImportKind, run_csv_import
from processors._imports import COMMUNICATIONS, CUSTOMERS, DEVICES, REVISIONS, VISITS

OWNER = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Any]:
    table = FlagTable.create(1)

    def go(
        kind: ImportKind, csv_text: str, owner: str = OWNER, encoding: str = "utf-8"
    ) -> dict[str, Any]:
        table.arm(0)
        f = tmp_path / "upload.csv"
        f.write_bytes(csv_text.encode(encoding))
        ctx = JobContext.bind(
            table, 0, job_id="j", job_type=kind.name, owner_id=owner, state_dir=tmp_path, file=f
        )
        return run_csv_import(ctx, kind)

    yield go
    table.close()
    table.unlink()


def _rows(tmp_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "domain.sqlite") as db:
        return db.execute(sql, args).fetchall()


CUSTOMERS_CSV = "external_id;name;email\nC1;Alfa s.r.o.;alfa@example.cz\nC2;Beta;beta@example.cz\n"


def test_devices_refer_to_customers_by_external_id_or_email(run: Any, tmp_path: Path) -> None:
    run(CUSTOMERS, CUSTOMERS_CSV)
    status = run(
        DEVICES,
        "external_id;customer_external_id;customer_email;device_type;serial_number;installed_on;"
        "revision_interval_months\n"
        "D1;C1;;kotel;SN-1;1. 3. 2021;12\n"
        "D2;;beta@example.cz;bojler;SN-2;2022-05-04;\n"
        "D3;C9;;kotel;SN-3;;\n"
        "D4;;;kotel;SN-4;;\n",
    )
    assert status["succeeded"] == 2 and status["failed"] == 2
    errors = {e["row"]: e["message"] for e in status["errors"]}
    assert errors[4] == "no customer with external_id 'C9'"
    assert "names no customer" in errors[5]
    rows = _rows(
        tmp_path,
        "SELECT d.external_id, c.external_id, d.installed_on FROM devices d"
        " JOIN customers c ON c.id = d.customer_id ORDER BY d.external_id",
    )
    assert rows == [("D1", "C1", "2021-03-01"), ("D2", "C2", "2022-05-04")]


def test_revisions_visits_and_communications(run: Any, tmp_path: Path) -> None:
    run(CUSTOMERS, CUSTOMERS_CSV)
    run(DEVICES, "external_id,customer_external_id,device_type,serial_number\nD1,C1,kotel,SN-1\n")
    rev = run(
        REVISIONS,
        "device_serial_number,revision_date,result,next_due\n"
        "SN-1,15.1.2024,PASSED,15.1.2025\n"
        "SN-1,2024-02-30,passed,\n"
        "SN-404,2024-01-01,passed,\n"
        "SN-1,2024-03-01,wonderful,\n",
    )
    assert rev["succeeded"] == 1 and rev["failed"] == 3
    messages = " | ".join(e["message"] for e in rev["errors"])
    assert "revision_date" in messages and "SN-404" in messages and "result" in messages
    assert _rows(tmp_path, "SELECT revision_date, result, next_due FROM revisions") == [
        ("2024-01-15", "passed", "2025-01-15")
    ]
    vis = run(
        VISITS,
        "customer_external_id,device_external_id,visited_on,duration_minutes,result\n"
        "C1,D1,2024-03-02,45,done\n"
        "C2,,2024-03-03,30,partial\n",
    )
    assert vis["succeeded"] == 2
    assert _rows(tmp_path, "SELECT device_id IS NULL FROM visits ORDER BY visited_on") == [
        (0,),
        (1,),
    ]
    com = run(
        COMMUNICATIONS,
        "customer_email;kind;direction;occurred_at;subject\n"
        "alfa@example.cz;Call;OUT;1.3.2024 9:05;objednávka\n"
        "alfa@example.cz;fax;in;2024-03-01T10:00;\n",
    )
    assert com["succeeded"] == 1 and com["failed"] == 1
    assert _rows(tmp_path, "SELECT kind, direction, occurred_at FROM communications") == [
        ("call", "out", "2024-03-01T09:05:00")
    ]


def test_reimport_updates_instead_of_duplicating(run: Any, tmp_path: Path) -> None:
    for _ in range(2):
        run(CUSTOMERS, CUSTOMERS_CSV)
        run(DEVICES, "customer_external_id,device_type,serial_number\nC1,kotel,SN-1\n")
        run(VISITS, "customer_external_id,visited_on\nC1,2024-01-01\n")
    for table in ("customers", "devices", "visits"):
        assert _rows(tmp_path, f"SELECT count(*) FROM {table}") == [
            (2 if table == "customers" else 1,)
        ]


def test_references_never_cross_owners(run: Any, tmp_path: Path) -> None:
    run(CUSTOMERS, CUSTOMERS_CSV, owner=OWNER)
    status = run(DEVICES, "customer_external_id,device_type\nC1,kotel\n", owner=OTHER)
    assert status["succeeded"] == 0
    assert status["errors"][0]["message"] == "no customer with external_id 'C1'"


def test_a_reference_column_is_required_in_the_header(run: Any) -> None:
    with pytest.raises(JobFailed, match="customer_email, customer_external_id"):
        run(DEVICES, "device_type,serial_number\nkotel,SN-1\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1250", "iso8859_2"])
def test_czech_encodings(run: Any, tmp_path: Path, encoding: str) -> None:
    status = run(
        CUSTOMERS, "name;city\nŠťastný Žluťoučký kůň;Žďár nad Sázavou\n", encoding=encoding
    )
    assert status["succeeded"] == 1
    assert _rows(tmp_path, "SELECT name, city FROM customers") == [
        ("Šťastný Žluťoučký kůň", "Žďár nad Sázavou")
    ]


def test_latin2_and_cp1250_are_told_apart() -> None:
    text = "name\nŠárka Žáková\n"
    assert decode(text.encode("cp1250")) == (text, "cp1250")
    assert decode(text.encode("iso8859_2")) == (text, "iso8859_2")


# -- import.zip ---------------------------------------------------------------------------


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def run_zip(tmp_path: Path) -> Iterator[Any]:
    table = FlagTable.create(1)

    def go(raw: bytes) -> dict[str, Any]:
        table.arm(0)
        f = tmp_path / "upload.zip"
        f.write_bytes(raw)
        ctx = JobContext.bind(
            table, 0, job_id="z", job_type="import.zip", owner_id=OWNER, state_dir=tmp_path, file=f
        )
        return run_import_zip(ctx, None)  # type: ignore[arg-type]

    yield go
    table.close()
    table.unlink()


def test_zip_imports_in_dependency_order_whatever_the_member_order(
    run_zip: Any, tmp_path: Path
) -> None:
    raw = _zip(
        {
            "export/visits.csv": (
                b"customer_external_id,device_external_id,visited_on\nC1,D1,2024-01-02\n"
            ),
            "export/devices.csv": b"external_id,customer_external_id,device_type\nD1,C1,kotel\n",
            "__MACOSX/._devices.csv": b"junk",
            "export/": b"",
            "export/customers.csv": CUSTOMERS_CSV.encode(),
        }
    )
    status = run_zip(raw)
    assert [f["file"] for f in status["files"]] == ["customers.csv", "devices.csv", "visits.csv"]
    assert (status["total"], status["succeeded"], status["failed"]) == (4, 4, 0)
    assert _rows(tmp_path, "SELECT count(*) FROM visits WHERE device_id IS NOT NULL") == [(1,)]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"this is not a zip", "not a ZIP"),
        (_zip({"customers.csv": b"name\nA\n"})[:-30], "not a ZIP"),
        (_zip({"orders.csv": b"x"}), "unknown member 'orders.csv'"),
        (_zip({"a/customers.csv": b"name\nA\n", "b/customers.csv": b"name\nB\n"}), "twice"),
        (_zip({"readme.txt": b"hi"}), "unknown member"),
        (_zip({}), "none of"),
        (_zip({"customers.csv": b"name\n" + b"A" * (40 * 1024 * 1024)}), "ZIP bomb"),
    ],
)
def test_hostile_archives_fail_clearly(raw: bytes, match: str) -> None:
    with pytest.raises(JobFailed, match=match):
        read_archive(raw)


def test_a_member_larger_than_the_limit_is_refused_while_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import processors._import_zip as iz

    monkeypatch.setattr(iz, "MAX_MEMBER_BYTES", 1000)
    raw = _zip({"customers.csv": b"name\n" + b"x\n" * 1000}, zipfile.ZIP_STORED)
    with pytest.raises(JobFailed, match="inflates beyond"):
        read_archive(raw)


def test_a_bad_csv_inside_a_zip_names_the_member(run_zip: Any) -> None:
    with pytest.raises(JobFailed, match=r"devices\.csv: .*customer"):
        run_zip(
            _zip({"customers.csv": CUSTOMERS_CSV.encode(), "devices.csv": b"device_type\nkotel\n"})
        )
