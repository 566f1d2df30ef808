"""Local stand-ins for the real services, answering in their JSON shapes:
Nominatim (/search, /reverse), Valhalla (/sources_to_targets, /route) and an SMS
gateway (/send, basic auth). One threaded HTTP server serves all three."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from processors._geo import Point, encode_polyline, haversine_m

PLACES = {
    "plzen": ("Plzeň, okres Plzeň-město, Plzeňský kraj, Česko", 49.7475, 13.3776, "cz"),
    "brno": ("Brno, Jihomoravský kraj, Česko", 49.1951, 16.6068, "cz"),
    "praha": ("Praha, Česko", 50.0880, 14.4208, "cz"),
}
SMS_USER, SMS_PASSWORD = "sms-user", "sms-secret"
SMTP_USER, SMTP_PASSWORD = "mailer", "mail-secret"


def free_port() -> int:
    """A port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def smtp_settings(
    tmp_dir: Any, port: int, ca: Any, password: str = SMTP_PASSWORD
) -> dict[str, Any]:
    """Backend settings for the SMTP server of :func:`smtp_server`."""
    password_file = tmp_dir / f"smtp-{password}.pw"
    password_file.write_text(password + "\n")
    return {
        "mailer": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_username": SMTP_USER,
        "smtp_password_file": password_file,
        "smtp_ca_file": ca,
    }


class FakeServices:
    def __init__(self) -> None:
        self.sms_sent: list[dict[str, Any]] = []
        self.hits: dict[str, int] = {}
        self.fail_next: dict[str, int] = {}  # path -> status to answer once
        self.delay: dict[str, float] = {}  # path -> seconds before answering
        self._lock = threading.Lock()
        self.release = threading.Event()  # set to let delayed answers go

    def hit(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1


def _handler(services: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _prelude(self) -> str | None:
            path = urlparse(self.path).path
            services.hit(path)
            if path in services.delay:
                services.release.wait(services.delay[path])
            status = services.fail_next.pop(path, None)
            if status is not None:
                self._send(status, {"error": "injected failure"})
                return None
            return path

        def do_GET(self) -> None:
            path = self._prelude()
            if path is None:
                return
            q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            if path == "/search":
                text = q.get("q", "").lower()
                hits = [
                    {
                        "lat": str(lat),
                        "lon": str(lng),
                        "display_name": name,
                        "addresstype": "city",
                        "address": {"country_code": cc},
                    }
                    for key, (name, lat, lng, cc) in PLACES.items()
                    if key in text.replace("ň", "n")
                ]
                self._send(200, hits[:1])
            elif path == "/reverse":
                here = Point(float(q["lat"]), float(q["lon"]))
                name, lat, lng, cc = min(
                    PLACES.values(), key=lambda p: haversine_m(here, Point(p[1], p[2]))
                )
                if haversine_m(here, Point(lat, lng)) > 50_000:
                    self._send(200, {"error": "Unable to geocode"})
                else:
                    self._send(
                        200,
                        {
                            "lat": str(lat),
                            "lon": str(lng),
                            "display_name": name,
                            "addresstype": "city",
                            "address": {"country_code": cc},
                        },
                    )
            else:
                self._send(404, {"error": "no such endpoint"})

        def do_POST(self) -> None:
            path = self._prelude()
            if path is None:
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if path == "/sources_to_targets":
                pts = [Point(p["lat"], p["lon"]) for p in body["sources"]]
                rows = [
                    [
                        {
                            "from_index": i,
                            "to_index": j,
                            "distance": round(haversine_m(a, b) * 1.2 / 1000, 3),
                            "time": round(haversine_m(a, b) * 1.2 / 20),
                        }
                        for j, b in enumerate(pts)
                    ]
                    for i, a in enumerate(pts)
                ]
                self._send(200, {"sources_to_targets": rows, "units": "kilometers"})
            elif path == "/route":
                pts = [Point(p["lat"], p["lon"]) for p in body["locations"]]
                km = sum(haversine_m(a, b) for a, b in itertools.pairwise(pts)) * 1.2 / 1000
                legs = [{"shape": encode_polyline([a, b])} for a, b in itertools.pairwise(pts)]
                self._send(
                    200,
                    {
                        "trip": {
                            "legs": legs,
                            "summary": {"length": km, "time": km * 50},
                            "units": "kilometers",
                        }
                    },
                )
            elif path == "/send":
                expected = base64.b64encode(f"{SMS_USER}:{SMS_PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, {"error": "bad credentials"})
                    return
                services.sms_sent.append(body)
                self._send(200, {"id": f"sms-{len(services.sms_sent)}"})
            else:
                self._send(404, {"error": "no such endpoint"})

    return Handler


@contextmanager
def fake_services() -> Iterator[tuple[FakeServices, str]]:
    services = FakeServices()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield services, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        services.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def smtp_server(tmp_dir: Any) -> Iterator[tuple[list[Any], int, Any]]:
    """aiosmtpd on localhost with STARTTLS (a trustme certificate) and required AUTH.
    Yields (received envelopes, port, path of the CA to trust)."""
    import ssl

    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_dir / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope)
            return "250 OK"

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"mailer"
            and data.password == b"mail-secret"
        )
        return AuthResult(success=ok, handled=False)

    port = free_port()  # aiosmtpd's self-check cannot use port 0
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield received, port, ca_file
    finally:
        controller.stop()
