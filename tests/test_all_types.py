"""Every job type through sazinkactl against a running daemon: a realistic input
completes, a bad one fails clearly, and a cancel behaves as the type's category
says. Statuses are checked against the published JSON Schema models."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processors import default_registry
from processors._schemas import status_adapter
from worker._protocol import CancelReply, StatusDocument

from .conftest import ALICE, Daemon, processed_at_least, watch_until
from .fakes import SMS_PASSWORD, SMS_USER, closed_url, fake_services, smtp_server, smtp_settings

pytestmark = pytest.mark.integration
REGISTRY = default_registry(diag=True)

CUSTOMERS = (
    "external_id;name;email;street;postal_code;city;country;lat;lng\n"
    "C1;Alfa s.r.o.;alfa@example.cz;Americká 12;301 00;Plzeň;CZ;;\n"
    "C2;Beta;beta@example.cz;Masarykova 5;602 00;Brno;CZ;49,195;16,607\n"
    "C3;Gama;gama@example.cz;Náměstí 1;;Praha;CZ;50,088;14,421\n"
)
DEVICES = (
    "external_id,customer_external_id,device_type,serial_number,installed_on\n"
    "D1,C1,kotel,SN-1,1.3.2021\n"
)
REVISIONS = (
    "device_serial_number,revision_date,result,next_due\nSN-1,2024-01-15,passed,2025-01-15\n"
)
COMMUNICATIONS = (
    "customer_email,kind,direction,occurred_at,subject\n"
    "alfa@example.cz,call,out,1.3.2024 9:05,revize\n"
)
VISITS = (
    "customer_external_id,device_external_id,visited_on,duration_minutes,result\n"
    "C1,D1,2024-03-02,45,done\n"
)


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("cp1250"))
    return buf.getvalue()


class Cli:
    """sazinkactl --json as a user runs it."""

    def __init__(self, daemon: Daemon, tmp: Path) -> None:
        self.d = daemon
        self.tmp = tmp
        self.token = daemon.token(ALICE)

    def run(self, *args: str) -> tuple[int, dict[str, Any]]:
        out = self.d.ctl("--json", *args, token=self.token)
        lines = out.stdout.strip().splitlines()
        assert len(lines) == 1, f"{args}: {out.stdout!r} {out.stderr!r}"
        return out.returncode, json.loads(lines[0])

    def submit(
        self, job_type: str, payload: dict[str, Any] | None = None, data: bytes | None = None
    ) -> str:
        args = ["submit", job_type, "--payload", json.dumps(payload or {})]
        if data is not None:
            f = self.tmp / f"{job_type}.upload"
            f.write_bytes(data)
            args += ["--file", str(f)]
        code, doc = self.run(*args)
        assert code == 0, doc
        return str(doc["jobId"])

    def finish(
        self, job_type: str, payload: dict[str, Any] | None = None, data: bytes | None = None
    ) -> dict[str, Any]:
        job = self.submit(job_type, payload, data)
        code, doc = self.run("wait", job, "--timeout", "120")
        assert code == 0, doc
        StatusDocument.model_validate(doc)
        status_adapter(REGISTRY.get(job_type)).validate_python(doc["status"])
        return doc


@pytest.fixture
def cli(daemon: Daemon, tmp_path: Path) -> Cli:
    return Cli(daemon, tmp_path)


def _seed(cli: Cli) -> None:
    for job_type, text in (
        ("import.customer", CUSTOMERS),
        ("import.device", DEVICES),
        ("import.revision", REVISIONS),
        ("import.communication", COMMUNICATIONS),
        ("import.visit", VISITS),
    ):
        doc = cli.finish(job_type, data=text.encode("cp1250"))
        assert doc["state"] == "completed", doc
        assert doc["status"]["failed"] == 0 and doc["status"]["succeeded"] >= 1, doc


def test_every_type_completes_on_embedded_backends(cli: Cli, tmp_path: Path) -> None:
    _seed(cli)
    zipped = cli.finish("import.zip", data=_zip({"customers.csv": CUSTOMERS, "visits.csv": VISITS}))
    assert zipped["status"]["succeeded"] == 4 and [
        f["file"] for f in zipped["status"]["files"]
    ] == ["customers.csv", "visits.csv"]
    batch = cli.finish("geocode.batch")
    assert batch["status"]["total"] == 1 and batch["status"]["succeeded"] == 1  # C1, in Plzeň
    addr = cli.finish("geocode.address", {"address": "Masarykova 5, 602 00 Brno", "country": "CZ"})
    assert addr["status"]["result"]["name"] == "Brno"
    rev = cli.finish("geocode.reverse", {"lat": 50.09, "lng": 14.42})
    assert rev["status"]["result"]["country"] == "CZ"
    pts = [{"lat": 50.088, "lng": 14.421}, {"lat": 49.195, "lng": 16.607}]
    matrix = cli.finish("valhalla.matrix", {"points": pts})
    assert matrix["status"]["result"]["distances"][0][1] > 150_000
    geo = cli.finish("valhalla.geometry", {"points": pts})
    assert geo["status"]["result"]["points"] == 2
    route = cli.finish(
        "route",
        {
            "start": {"lat": 50.088, "lng": 14.421},
            "stops": [{"customerId": 1}, {"customerId": 2}],
            "maxSeconds": 1,
        },
    )
    assert sorted(s["customerId"] for s in route["status"]["result"]["stops"]) == [1, 2]
    export = cli.finish("export")
    assert export["status"]["result"]["rows"]["customers"] == 3
    out = tmp_path / "export.zip"
    code, fetched = cli.run("fetch", export["jobId"], "-o", str(out))
    assert (
        code == 0 and fetched["bytes"] == out.stat().st_size == export["status"]["result"]["bytes"]
    )
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(
            f"{t}.csv" for t in ("customers", "devices", "revisions", "communications", "visits")
        )
    mail = cli.finish("email", {"to": ["jan@example.cz"], "subject": "Revize", "text": "Dobrý den"})
    assert mail["status"]["result"]["via"] == "outbox"
    sms = cli.finish("sms", {"to": "+420777123456", "text": "Zítra v 8:00"})
    assert sms["status"]["result"]["via"] == "outbox"
    assert len(list((cli.d.state_dir / "outbox" / "mail").glob("*.eml"))) == 1


@pytest.mark.parametrize(
    ("job_type", "payload", "data", "code", "message"),
    [
        ("import.customer", {}, b"email\nx@y.cz\n", 0, "missing required column"),
        ("import.device", {}, b"device_type\nkotel\n", 0, "customer_email, customer_external_id"),
        ("import.revision", {}, b"\x00\x01binary", 0, "NUL"),
        ("import.communication", {}, b"", 0, "empty"),
        ("import.visit", {}, b"visited_on\n2024-01-01\n", 0, "customer"),
        ("import.zip", {}, b"PK\x03\x04 broken", 0, "not a ZIP"),
        ("geocode.batch", {"customerIds": [999]}, None, 0, "none of the given customers"),
        ("geocode.address", {"address": "Qwxzv Plkjhg"}, None, 0, "not found"),
        ("geocode.reverse", {"lat": 0.5, "lng": -160}, None, 0, "nothing known"),
        ("valhalla.matrix", {"points": []}, None, 2, "points"),
        ("valhalla.geometry", {"points": [{"lat": 1, "lng": 1}]}, None, 0, "at least two points"),
        (
            "route",
            {"start": {"lat": 50, "lng": 14}, "stops": [{"customerId": 424242}]},
            None,
            0,
            "no customer",
        ),
        ("export", {"tables": ["orders"]}, None, 2, "tables"),
        ("email", {"to": ["not-an-address"], "subject": "x", "text": "y"}, None, 2, "to"),
        ("sms", {"to": "777 123 456", "text": "x"}, None, 2, "to"),
    ],
)
def test_every_type_fails_clearly_on_bad_input(
    cli: Cli, job_type: str, payload: dict[str, Any], data: bytes | None, code: int, message: str
) -> None:
    if code:  # refused at submit: the payload breaks its schema
        f = cli.tmp / "x"
        args = ["submit", job_type, "--payload", json.dumps(payload)]
        if data is not None:
            f.write_bytes(data)
            args += ["--file", str(f)]
        rc, doc = cli.run(*args)
        assert (
            rc == code
            and doc["error"]["code"] == "INVALID_ARGUMENT"
            and message in doc["error"]["message"]
        )
        return
    doc = cli.finish(job_type, payload, data)
    assert doc["state"] == "failed", doc
    assert message in doc["status"]["error"], doc["status"]


# -- real backends, against local servers ----------------------------------------------------------


@pytest.fixture
def real(make_daemon: Any, tmp_path: Path) -> Iterator[tuple[Cli, Any, list[Any]]]:
    (tmp_path / "sms.pw").write_text(SMS_PASSWORD)
    with fake_services() as (fakes, url), smtp_server(tmp_path) as (mails, port, ca):
        d = make_daemon(
            geocoder="nominatim",
            geocoder_url=url,
            geocoder_min_interval_s=0,
            router="valhalla",
            router_url=url,
            **smtp_settings(tmp_path, port, ca),
            mail_from="crm@example.cz",
            sms="http",
            sms_url=f"{url}/send",
            sms_username=SMS_USER,
            sms_password_file=tmp_path / "sms.pw",
            backend_timeout_s=5,
        )
        yield Cli(d, tmp_path), fakes, mails
        d.stop()


def test_every_networked_type_on_the_real_backends(real: Any) -> None:
    cli, fakes, mails = real
    _seed(cli)
    assert cli.finish("geocode.batch")["status"]["geocoder"] == "nominatim"
    assert cli.finish("geocode.address", {"address": "Brno"})["status"]["result"][
        "name"
    ].startswith("Brno")
    assert (
        "Praha"
        in cli.finish("geocode.reverse", {"lat": 50.09, "lng": 14.42})["status"]["result"]["name"]
    )
    pts = [{"lat": 50.088, "lng": 14.421}, {"lat": 49.195, "lng": 16.607}]
    assert cli.finish("valhalla.matrix", {"points": pts})["status"]["type"] == "completed"
    assert cli.finish("valhalla.geometry", {"points": pts})["status"]["result"]["points"] >= 2
    route = cli.finish(
        "route", {"start": pts[0], "stops": [{"customerId": 2}, {"customerId": 3}], "maxSeconds": 1}
    )
    assert route["status"]["result"]["router"] == "valhalla"
    assert (
        cli.finish("email", {"to": ["jan@example.cz"], "subject": "Revize", "text": "Dobrý den"})[
            "state"
        ]
        == "completed"
    )
    assert len(mails) == 1 and mails[0].mail_from == "crm@example.cz"
    assert (
        cli.finish("sms", {"to": "+420777123456", "text": "Zítra"})["status"]["result"]["via"]
        == "http"
    )
    assert fakes.sms_sent[-1]["to"] == "+420777123456"
    for path in ("/search", "/reverse", "/sources_to_targets", "/route", "/send"):
        assert fakes.hits.get(path), path


def test_a_backend_that_is_down_fails_the_job_with_a_message(
    make_daemon: Any, tmp_path: Path
) -> None:
    cli = Cli(
        make_daemon(
            router="valhalla", router_url=closed_url(), backend_timeout_s=2, backend_retries=1
        ),
        tmp_path,
    )
    doc = cli.finish("valhalla.matrix", {"points": [{"lat": 50, "lng": 14}]})
    assert doc["state"] == "failed" and "unreachable" in doc["status"]["error"]
    assert (
        cli.finish("sms", {"to": "+420777123456", "text": "x"})["state"] == "completed"
    )  # nothing else hurt


# -- cancellation by category --------------------------------------------------------------------


def test_an_atomic_job_is_not_cancellable_once_running(real: Any) -> None:
    cli, fakes, _ = real
    fakes.release.clear()
    fakes.delay["/search"] = 60
    try:
        job = cli.submit("geocode.address", {"address": "Plzeň"})
        with cli.d.client() as w:
            watch_until(w, job, lambda d: d["state"] == "running")
        code, reply = cli.run("cancel", job)
        assert code == 0
        CancelReply.model_validate(reply)
        assert reply["outcome"] == "not_cancellable"
    finally:
        fakes.release.set()
        del fakes.delay["/search"]
    code, doc = cli.run("wait", job, "--timeout", "60")
    assert code == 0
    assert doc["state"] == "completed" and "Plze" in doc["status"]["result"]["name"]


def test_geocode_batch_cancelled_reports_processed_and_total(
    make_daemon: Any, tmp_path: Path
) -> None:
    with fake_services() as (_fakes, url):
        cli = Cli(
            make_daemon(geocoder="nominatim", geocoder_url=url, geocoder_min_interval_s=0.05),
            tmp_path,
        )
        cli.finish(
            "import.customer",
            data=("name;city\n" + "".join(f"Z{i};Brno\n" for i in range(400))).encode(),
        )
        job = cli.submit("geocode.batch")
        with cli.d.client() as w:
            watch_until(w, job, processed_at_least(20))
        assert cli.run("cancel", job)[1]["outcome"] == "cancel_requested"
        doc = cli.run("wait", job, "--timeout", "60")[1]
    st = doc["status"]
    assert doc["state"] == "cancelled" and st["total"] == 400 and 20 <= st["processed"] < 400
    assert st["processed"] % 10 == 0 and st["succeeded"] == st["processed"]


def test_import_zip_cancelled_reports_files(cli: Cli) -> None:
    rows = "name;email\n" + "".join(f"N{i};n{i}@example.cz\n" for i in range(60_000))
    job = cli.submit(
        "import.zip",
        data=_zip({"customers.csv": rows, "visits.csv": "customer_email;visited_on\n"}),
    )
    with cli.d.client() as w:
        watch_until(w, job, processed_at_least(5000))
    cli.run("cancel", job)
    doc = cli.run("wait", job, "--timeout", "60")[1]
    assert doc["state"] == "cancelled"
    assert doc["status"] == {"type": "cancelled", "completedFiles": 0, "totalFiles": 2}
    status_adapter(REGISTRY.get("import.zip")).validate_python(doc["status"])


def test_route_cancelled_while_solving(cli: Cli) -> None:
    stops = [{"lat": 49 + i * 0.01, "lng": 14 + (i * 7 % 13) * 0.05} for i in range(80)]
    job = cli.submit(
        "route", {"start": {"lat": 50.08, "lng": 14.42}, "stops": stops, "maxSeconds": 120}
    )
    with cli.d.client() as w:
        watch_until(w, job, lambda d: d["status"].get("message") == "jobs:route_solving")
    cli.run("cancel", job)
    doc = cli.run("wait", job, "--timeout", "30")[1]  # far below the 120 s the solver may take
    assert doc["state"] == "cancelled"
    assert doc["status"] == {"type": "cancelled", "message": "jobs:cancelled_by_user"}


def _customers_csv(n: int) -> bytes:
    return (
        "name;email;city\n" + "".join(f"Zákazník {i};z{i}@example.cz;Plzeň\n" for i in range(n))
    ).encode("cp1250")


def test_a_200k_import_cancelled_halfway_keeps_its_rows_and_an_export_shows_them(
    cli: Cli, tmp_path: Path
) -> None:
    job = cli.submit("import.customer", data=_customers_csv(200_000))
    with cli.d.client() as w:
        watch_until(w, job, processed_at_least(100_000))
    code, reply = cli.run("cancel", job)
    assert code == 0 and reply["outcome"] in ("cancel_requested", "already_finished")
    doc = cli.run("wait", job, "--timeout", "120")[1]
    assert doc["state"] == "cancelled", doc["status"]
    processed = doc["status"]["processed"]
    assert 100_000 <= processed < 200_000 and doc["status"]["succeeded"] == processed
    export = cli.finish("export", {"tables": ["customers"]})
    assert export["status"]["result"]["rows"] == {"customers": processed}
    out = tmp_path / "after-cancel.zip"
    assert cli.run("fetch", export["jobId"], "-o", str(out))[0] == 0
    with zipfile.ZipFile(out) as zf:
        rows = list(
            csv.reader(io.StringIO(zf.read("customers.csv").decode("utf-8-sig")), delimiter=";")
        )
    assert len(rows) - 1 == processed  # the header, then exactly the rows reported


def test_an_export_cancelled_while_formatting_leaves_no_file(cli: Cli) -> None:
    cli.finish("import.customer", data=_customers_csv(150_000))
    job = cli.submit("export")
    with cli.d.client() as w:
        watch_until(
            w,
            job,
            lambda d: d["status"].get("message") == "jobs:formatting" or d["state"] != "running",
        )
    cli.run("cancel", job)
    doc = cli.run("wait", job, "--timeout", "60")[1]
    assert doc["state"] == "cancelled", doc
    assert doc["status"] == {"type": "cancelled", "message": "jobs:cancelled_by_user"}
    exports = cli.d.state_dir / "exports" / ALICE
    assert not exports.exists() or not list(exports.iterdir())
    code, err = cli.run("fetch", job, "-o", str(cli.tmp / "nothing.zip"))
    assert code == 2 and err["error"]["key"] == "jobs:fetch_not_ready"


def test_only_the_owner_can_fetch_an_export(cli: Cli, tmp_path: Path) -> None:
    export = cli.finish("export")
    stranger = cli.d.ctl(
        "--json",
        "fetch",
        export["jobId"],
        "-o",
        str(tmp_path / "x.zip"),
        token=cli.d.token("b0b00000-0000-4000-8000-000000000002"),
    )
    assert stranger.returncode == 5 and json.loads(stranger.stdout)["error"]["code"] == "NOT_FOUND"
    assert not (tmp_path / "x.zip").exists()
