"""One contract per backend kind, run against every implementation: the embedded
default and the real one (against local servers in the real protocols)."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processors import BackendError, Backends, BackendUnavailable
from processors._geo import Point
from processors._mailer import Mail
from processors._sms import Sms

from .fakes import (
    SMS_PASSWORD,
    SMS_USER,
    FakeServices,
    closed_url,
    fake_services,
    free_port,
    smtp_server,
    smtp_settings,
)


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[FakeServices, str]]:
    with fake_services() as s:
        yield s


def _backends(tmp_path: Path, **config: Any) -> Backends:
    return Backends({"state_dir": tmp_path, "backend_timeout_s": 5, "backend_retries": 1, **config})


# -- geocoder ----------------------------------------------------------------------------


@pytest.fixture(params=["offline", "nominatim"])
def geocoder(request: Any, tmp_path: Path, gazetteer_path: Path, services: Any) -> Any:
    _, url = services
    if request.param == "offline":
        return _backends(tmp_path, gazetteer_path=gazetteer_path).geocoder
    return _backends(
        tmp_path, geocoder="nominatim", geocoder_url=url, geocoder_min_interval_s=0
    ).geocoder


def test_geocoder_finds_a_city(geocoder: Any) -> None:
    place = geocoder.geocode("Americká 12, 301 00 Plzeň", country="CZ")
    assert place is not None
    assert abs(place.lat - 49.747) < 0.05 and abs(place.lng - 13.377) < 0.05
    assert place.country == "CZ"


def test_geocoder_says_none_for_nowhere(geocoder: Any) -> None:
    assert geocoder.geocode("Xqzvw Kkjh") is None


def test_geocoder_reverses(geocoder: Any) -> None:
    place = geocoder.reverse(Point(49.20, 16.60))
    assert place is not None and "Brno" in place.name


def test_nominatim_down_is_a_clear_error(tmp_path: Path) -> None:
    g = _backends(
        tmp_path, geocoder="nominatim", geocoder_url=closed_url(), geocoder_min_interval_s=0
    )
    with pytest.raises(BackendUnavailable, match="unreachable"):
        g.geocoder.geocode("Brno")


def test_nominatim_pacing_is_shared_and_uses_the_callers_sleep(
    tmp_path: Path, services: Any
) -> None:
    _, url = services
    b = _backends(tmp_path, geocoder="nominatim", geocoder_url=url, geocoder_min_interval_s=30)
    waits: list[float] = []
    b.geocoder.geocode("Brno", sleep=waits.append)
    b.geocoder.geocode("Praha", sleep=waits.append)
    assert len(waits) == 1 and 29 < waits[0] <= 30  # the second request waits its turn


# -- router --------------------------------------------------------------------------------


@pytest.fixture(params=["greatcircle", "valhalla"])
def router(request: Any, tmp_path: Path, services: Any) -> Any:
    _, url = services
    if request.param == "greatcircle":
        return _backends(tmp_path).router
    return _backends(tmp_path, router="valhalla", router_url=url).router


PTS = [Point(50.088, 14.421), Point(49.195, 16.607), Point(49.748, 13.378)]


def test_router_matrix(router: Any) -> None:
    m = router.matrix(PTS)
    assert len(m.durations_s) == 3 and all(len(r) == 3 for r in m.durations_s)
    assert all(m.distances_m[i][i] == 0 for i in range(3))
    assert 180_000 < m.distances_m[0][1] < 300_000  # Praha - Brno by road
    assert m.durations_s[0][1] > m.durations_s[0][2] > 0  # Brno is farther than Plzeň


def test_router_geometry(router: Any) -> None:
    g = router.geometry(PTS)
    assert g.points[0] == pytest.approx(PTS[0], abs=1e-5)
    assert g.points[-1] == pytest.approx(PTS[-1], abs=1e-5)
    assert g.distance_m > 400_000 and g.duration_s > 0


def test_router_refuses_too_few_points(router: Any) -> None:
    with pytest.raises(BackendError):
        router.geometry(PTS[:1])


def test_valhalla_down_and_failing(tmp_path: Path, services: Any) -> None:
    fakes, url = services
    with pytest.raises(BackendUnavailable):
        _backends(tmp_path, router="valhalla", router_url=closed_url()).router.matrix(PTS)
    fakes.fail_next["/sources_to_targets"] = 503  # once: the retry succeeds
    assert _backends(tmp_path, router="valhalla", router_url=url).router.matrix(PTS)
    fakes.fail_next["/route"] = 400
    with pytest.raises(BackendError, match="answered 400"):
        _backends(tmp_path, router="valhalla", router_url=url).router.geometry(PTS)


# -- mailer ----------------------------------------------------------------------------------


@pytest.fixture(params=["outbox", "smtp"])
def mailer(request: Any, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    if request.param == "outbox":
        b = _backends(tmp_path)

        def sent() -> list[email.message.Message]:
            return [
                email.message_from_bytes(p.read_bytes())
                for p in (tmp_path / "outbox" / "mail").glob("*.eml")
            ]

        yield b.mailer, sent
        return
    with smtp_server(tmp_path) as (received, port, ca):
        b = _backends(tmp_path, **smtp_settings(tmp_path, port, ca), mail_from="crm@example.cz")
        yield b.mailer, lambda: [email.message_from_bytes(e.original_content) for e in received]


def test_mailer_sends(mailer: Any) -> None:
    m, sent = mailer
    message_id = m.send(
        Mail(["jan@example.cz", "eva@example.cz"], "Revize kotle", "Dobrý den,\nzítra v 8:00.")
    )
    (msg,) = sent()
    assert msg["Subject"] == "Revize kotle"
    assert msg["Message-ID"] == message_id
    assert "jan@example.cz" in msg["To"] and "eva@example.cz" in msg["To"]


def test_smtp_wrong_password_and_no_server(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as (received, port, ca):
        b = _backends(tmp_path, **smtp_settings(tmp_path, port, ca, password="wrong"))
        with pytest.raises(BackendError, match="login refused"):
            b.mailer.send(Mail(["a@example.cz"], "x", "y"))
        assert received == []
    b = _backends(tmp_path, mailer="smtp", smtp_host="127.0.0.1", smtp_port=free_port())
    with pytest.raises(BackendUnavailable, match="unreachable"):
        b.mailer.send(Mail(["a@example.cz"], "x", "y"))


def test_smtp_refuses_a_server_without_a_trusted_certificate(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as (received, port, _ca):
        b = _backends(tmp_path, mailer="smtp", smtp_host="127.0.0.1", smtp_port=port)
        with pytest.raises(BackendError, match="SMTP failed"):
            b.mailer.send(Mail(["a@example.cz"], "x", "y"))
        assert received == []


# -- sms --------------------------------------------------------------------------------------


@pytest.fixture(params=["outbox", "http"])
def sms(request: Any, tmp_path: Path, services: Any) -> Any:
    fakes, url = services
    if request.param == "outbox":

        def sent() -> list[dict[str, Any]]:
            return [json.loads(p.read_text()) for p in (tmp_path / "outbox" / "sms").glob("*.json")]

        return _backends(tmp_path).sms, sent
    (tmp_path / "sms.pw").write_text(SMS_PASSWORD)
    fakes.sms_sent.clear()
    b = _backends(
        tmp_path,
        sms="http",
        sms_url=f"{url}/send",
        sms_username=SMS_USER,
        sms_password_file=tmp_path / "sms.pw",
    )
    return b.sms, lambda: list(fakes.sms_sent)


def test_sms_sends(sms: Any) -> None:
    gateway, sent = sms
    message_id = gateway.send(Sms("+420777123456", "Zítra v 8:00"))
    assert message_id
    (msg,) = sent()
    assert (
        msg["to"] == "+420777123456" and msg["text"] == "Zítra v 8:00" and msg["from"] == "sazinka"
    )


def test_sms_gateway_failures_are_clear_and_a_timeout_is_not_retried(
    tmp_path: Path, services: Any
) -> None:
    fakes, url = services
    bad = _backends(tmp_path, sms="http", sms_url=f"{url}/send", sms_username="x")
    with pytest.raises(BackendError, match="answered 401"):
        bad.sms.send(Sms("+420777123456", "x"))
    with pytest.raises(BackendUnavailable):
        _backends(tmp_path, sms="http", sms_url=f"{closed_url()}/send").sms.send(
            Sms("+420777123456", "x")
        )
    (tmp_path / "sms.pw").write_text(SMS_PASSWORD)
    slow = _backends(
        tmp_path,
        sms="http",
        sms_url=f"{url}/send",
        sms_username=SMS_USER,
        sms_password_file=tmp_path / "sms.pw",
        backend_timeout_s=0.2,
        backend_retries=3,
    )
    fakes.delay["/send"] = 5
    before = fakes.hits.get("/send", 0)
    try:
        with pytest.raises(BackendUnavailable, match="in time"):
            slow.sms.send(Sms("+420777123456", "x"))
    finally:
        del fakes.delay["/send"]
    assert fakes.hits["/send"] == before + 1  # sent once: a second SMS must not go out
