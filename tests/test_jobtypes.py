"""Geocoding, routing, export and messaging, in-process on the embedded backends."""

from __future__ import annotations

import email
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc import CancelReason, FlagTable
from processors import Backends, JobCancelled, JobContext, JobFailed
from processors._export import ExportPayload, export_path, run_export
from processors._geo import decode_polyline, encode_polyline
from processors._geocode import (
    AddressPayload,
    BatchPayload,
    ReversePayload,
    run_address,
    run_batch,
    run_reverse,
)
from processors._import_zip import run_import_zip
from processors._importer import run_csv_import
from processors._imports import CUSTOMERS, DEVICES, VISITS
from processors._messaging import EmailPayload, SmsPayload, run_email, run_sms
from processors._routing import PointsPayload, RoutePayload, run_geometry, run_matrix, run_route

OWNER = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


class Jobs:
    """Contexts over one flag table, with the embedded backends."""

    def __init__(self, state_dir: Path, gazetteer: Path) -> None:
        self.state_dir = state_dir
        self.table = FlagTable.create(4)
        self.backends = Backends({"state_dir": state_dir, "gazetteer_path": gazetteer})
        self.phases: list[tuple[str, int]] = []
        self.on_phase: Any = None

    def ctx(
        self, job_type: str, *, owner: str = OWNER, file: Path | None = None, job_id: str = "job-1"
    ) -> JobContext:
        self.table.arm(0)

        def emit(msg: dict[str, Any]) -> None:
            self.phases.append((msg["key"], msg["percent"]))
            if self.on_phase is not None:
                self.on_phase(msg["key"])

        return JobContext.bind(
            self.table,
            0,
            job_id=job_id,
            job_type=job_type,
            owner_id=owner,
            state_dir=self.state_dir,
            file=file,
            emit=emit,
            backends=self.backends,
        )

    def cancel(self) -> None:
        self.table.request_cancel(0, CancelReason.REQUESTED)

    def csv(self, kind: Any, text: str, owner: str = OWNER) -> dict[str, Any]:
        f = self.state_dir / "in.csv"
        f.write_text(text)
        return run_csv_import(self.ctx(kind.name, owner=owner, file=f), kind)


@pytest.fixture
def jobs(tmp_path: Path, gazetteer_path: Path) -> Iterator[Jobs]:
    j = Jobs(tmp_path, gazetteer_path)
    yield j
    j.table.close()
    j.table.unlink()


CUSTOMERS_CSV = (
    "external_id;name;email;street;postal_code;city;country;lat;lng\n"
    "C1;Alfa;alfa@example.cz;Náměstí Republiky 1;301 00;Plzeň;CZ;;\n"
    "C2;Beta;beta@example.cz;Masarykova 5;602 00;Brno;CZ;;\n"
    "C3;Gama;gama@example.cz;Hlavní 3;;Nowhere-on-earth;CZ;;\n"
    "C4;Delta;delta@example.cz;;;Praha;CZ;50,08;14,42\n"
)


# -- geocoding ------------------------------------------------------------------------------


def test_geocode_address_and_reverse_offline(jobs: Jobs) -> None:
    out = run_address(
        jobs.ctx("geocode.address"),
        AddressPayload(address="Náměstí Míru 12, 301 00 Plzeň", country="CZ"),
    )
    r = out["result"]
    assert abs(r["lat"] - 49.75) < 0.05 and abs(r["lng"] - 13.38) < 0.05
    assert r["precision"] == "city" and r["country"] == "CZ"
    back = run_reverse(jobs.ctx("geocode.reverse"), ReversePayload(lat=49.19, lng=16.61))
    assert back["result"]["name"].startswith("Brno")  # "Brno střed", the centre district
    with pytest.raises(JobFailed, match="not found"):
        run_address(jobs.ctx("geocode.address"), AddressPayload(address="Qwxzv Plkjhg"))


def test_geocode_batch_fills_the_owners_customers_without_coordinates(jobs: Jobs) -> None:
    jobs.csv(CUSTOMERS, CUSTOMERS_CSV)
    jobs.csv(CUSTOMERS, "name;city\nCizí;Plzeň\n", owner=OTHER)
    status = run_batch(jobs.ctx("geocode.batch"), BatchPayload())
    assert status["total"] == 3 and status["succeeded"] == 2 and status["failed"] == 1
    with sqlite3.connect(jobs.state_dir / "domain.sqlite") as db:
        rows = dict(
            db.execute(
                "SELECT external_id, lat IS NOT NULL FROM customers WHERE owner_id=?", (OWNER,)
            )
        )
        other = db.execute("SELECT lat FROM customers WHERE owner_id=?", (OTHER,)).fetchall()
    assert rows == {"C1": 1, "C2": 1, "C3": 0, "C4": 1}
    assert other == [(None,)]  # another owner's customers are never touched


def test_geocode_batch_cancelled_keeps_what_it_found(jobs: Jobs) -> None:
    jobs.csv(CUSTOMERS, "name;city\n" + "".join(f"Z{i};Plzeň\n" for i in range(40)))
    ctx = jobs.ctx("geocode.batch")
    original = ctx.backends.geocoder.geocode
    calls = 0

    def geocode_then_cancel(*a: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 15:
            jobs.cancel()
        return original(*a, **kw)

    ctx.backends._built["geocoder"].geocode = geocode_then_cancel  # type: ignore[attr-defined]
    with pytest.raises(JobCancelled) as info:
        run_batch(ctx, BatchPayload())
    assert info.value.status == {
        "type": "cancelled",
        "processed": 20,
        "total": 40,
        "succeeded": 20,
        "failed": 0,
    }
    with sqlite3.connect(jobs.state_dir / "domain.sqlite") as db:
        assert db.execute("SELECT count(*) FROM customers WHERE lat IS NOT NULL").fetchone() == (
            20,
        )


# -- routing --------------------------------------------------------------------------------

PRAHA, BRNO, PLZEN, OLOMOUC = (50.08, 14.42), (49.19, 16.61), (49.74, 13.37), (49.59, 17.25)


def _pt(p: tuple[float, float]) -> dict[str, float]:
    return {"lat": p[0], "lng": p[1]}


def test_matrix_and_geometry_on_great_circles(jobs: Jobs) -> None:
    m = run_matrix(
        jobs.ctx("valhalla.matrix"),
        PointsPayload.model_validate({"points": [_pt(PRAHA), _pt(BRNO)]}),
    )
    d = m["result"]["distances"]
    assert d[0][0] == 0 and d[0][1] == d[1][0] and 240_000 < d[0][1] < 260_000  # ~185 km x 1.3
    g = run_geometry(
        jobs.ctx("valhalla.geometry"),
        PointsPayload.model_validate({"points": [_pt(PRAHA), _pt(BRNO), _pt(OLOMOUC)]}),
    )
    assert len(decode_polyline(g["result"]["geometry"])) == 3


def test_polyline6_roundtrip() -> None:
    pts = [(50.08, 14.42), (49.19, 16.61), (-33.8688, 151.2093)]
    assert [tuple(round(c, 6) for c in p) for p in decode_polyline(encode_polyline(pts))] == pts


def test_route_orders_stops_and_honours_time_windows(jobs: Jobs) -> None:
    payload = RoutePayload.model_validate(
        {
            "start": _pt(PRAHA),
            "stops": [
                {**_pt(OLOMOUC), "name": "Olomouc"},
                {**_pt(PLZEN), "name": "Plzeň", "timeWindow": {"from": "07:00", "to": "09:30"}},
                {**_pt(BRNO), "name": "Brno"},
            ],
            "departure": "07:00",
            "maxSeconds": 2,
        }
    )
    out = run_route(jobs.ctx("route"), payload)["result"]
    assert out["feasible"]
    names = [s["name"] for s in out["stops"]]
    # ~2.2 h from Praha at the default 50 km/h over 1.3x the great circle: only a
    # route that goes there first makes the 09:30 end of its window
    assert names[0] == "Plzeň"
    assert set(names) == {"Olomouc", "Plzeň", "Brno"}
    assert out["stops"][0]["serviceStart"] <= "09:30"
    assert not any(s["late"] for s in out["stops"])
    assert [k for k, _ in jobs.phases] == [
        "jobs:route_matrix",
        "jobs:route_solving",
        "jobs:route_geometry",
    ]
    assert out["distanceMeters"] > 0 and out["geometry"]


def test_route_refers_to_the_owners_customers_only(jobs: Jobs) -> None:
    jobs.csv(CUSTOMERS, CUSTOMERS_CSV)
    with sqlite3.connect(jobs.state_dir / "domain.sqlite") as db:
        (c4,) = db.execute("SELECT id FROM customers WHERE external_id='C4'").fetchone()
        (c1,) = db.execute("SELECT id FROM customers WHERE external_id='C1'").fetchone()
    ok = run_route(
        jobs.ctx("route"),
        RoutePayload.model_validate({"start": _pt(BRNO), "stops": [{"customerId": c4}]}),
    )
    assert ok["result"]["stops"][0]["name"] == "Delta"
    with pytest.raises(JobFailed, match="no coordinates"):
        run_route(
            jobs.ctx("route"),
            RoutePayload.model_validate({"start": _pt(BRNO), "stops": [{"customerId": c1}]}),
        )
    with pytest.raises(JobFailed, match="no customer"):
        run_route(
            jobs.ctx("route", owner=OTHER),
            RoutePayload.model_validate({"start": _pt(BRNO), "stops": [{"customerId": c4}]}),
        )


def test_route_cancelled_while_solving_stops_the_solver(jobs: Jobs) -> None:
    stops = [{"lat": 49 + i * 0.01, "lng": 14 + (i * 7 % 13) * 0.05} for i in range(60)]
    payload = RoutePayload.model_validate({"start": _pt(PRAHA), "stops": stops, "maxSeconds": 300})
    jobs.on_phase = lambda key: jobs.cancel() if key == "jobs:route_solving" else None
    with pytest.raises(JobCancelled) as info:
        run_route(jobs.ctx("route"), payload)  # would search for up to 300 s
    assert info.value.status == {"type": "cancelled", "message": "jobs:cancelled_by_user"}


# -- export ---------------------------------------------------------------------------------


def test_export_writes_reimportable_csvs_and_another_owner_can_import_them(jobs: Jobs) -> None:
    jobs.csv(CUSTOMERS, CUSTOMERS_CSV)
    jobs.csv(
        DEVICES, "external_id,customer_external_id,device_type,serial_number\nD1,C1,kotel,SN-1\n"
    )
    jobs.csv(
        VISITS, "customer_email,device_serial_number,visited_on\nbeta@example.cz,SN-1,2024-03-02\n"
    )
    out = run_export(jobs.ctx("export", job_id="exp-1"), ExportPayload())
    assert out["result"]["rows"] == {
        "customers": 4,
        "devices": 1,
        "revisions": 0,
        "communications": 0,
        "visits": 1,
    }
    assert [k for k, _ in jobs.phases] == ["jobs:formatting", "jobs:packing_zip"]
    path = export_path(jobs.state_dir, OWNER, "exp-1")
    assert path.stat().st_size == out["result"]["bytes"]
    with zipfile.ZipFile(path) as zf:
        visits = zf.read("visits.csv").decode("utf-8-sig").splitlines()
    assert "customer_email" in visits[0] and "beta@example.cz" in visits[1]
    status = run_import_zip(jobs.ctx("import.zip", owner=OTHER, file=path), None)  # type: ignore[arg-type]
    assert status["failed"] == 0 and status["succeeded"] == 6


def test_a_cancelled_export_leaves_no_file(jobs: Jobs) -> None:
    jobs.csv(CUSTOMERS, "name\n" + "".join(f"N{i}\n" for i in range(5000)))
    jobs.on_phase = lambda key: jobs.cancel() if key == "jobs:formatting" else None
    with pytest.raises(JobCancelled) as info:
        run_export(jobs.ctx("export", job_id="exp-2"), ExportPayload())
    assert info.value.status == {"type": "cancelled", "message": "jobs:cancelled_by_user"}
    directory = export_path(jobs.state_dir, OWNER, "exp-2").parent
    assert not directory.exists() or not list(directory.iterdir())


# -- messaging ------------------------------------------------------------------------------


def test_email_and_sms_go_to_the_outbox(jobs: Jobs) -> None:
    out = run_email(
        jobs.ctx("email"),
        EmailPayload(to=["jan@example.cz"], subject="Revize kotle", text="Dobrý den"),
    )
    (eml,) = (jobs.state_dir / "outbox" / "mail").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes())
    assert msg["Subject"] == "Revize kotle" and msg["Message-ID"] == out["result"]["messageId"]
    sms = run_sms(jobs.ctx("sms"), SmsPayload(to="+420777123456", text="Zítra v 8:00"))
    (doc,) = (jobs.state_dir / "outbox" / "sms").glob("*.json")
    assert json.loads(doc.read_text()) == {
        "id": sms["result"]["messageId"],
        "from": "sazinka",
        "to": "+420777123456",
        "text": "Zítra v 8:00",
    }
