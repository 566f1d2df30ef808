"""SMS gateways: JSON files in an outbox (the embedded default) or an HTTP gateway
(``POST {"to", "text", "from"}`` with basic authentication, answering ``{"id"}``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ._backends import BackendConfig
from ._errors import BackendError
from ._http import JsonHttp
from ._outbox import deliver


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    text: str


class SmsGateway(Protocol):
    name: str

    def send(self, sms: Sms) -> str:
        """Send; returns the gateway's message id."""
        ...


class OutboxSms:
    name = "outbox"

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    def send(self, sms: Sms) -> str:
        message_id = str(uuid.uuid4())
        doc = {"id": message_id, "from": self._sender, "to": sms.to, "text": sms.text}
        deliver(self.directory, f"{message_id}.json", json.dumps(doc, ensure_ascii=False).encode())
        return message_id


class HttpSms:
    name = "http"

    def __init__(self, config: BackendConfig) -> None:
        password = config.secret(config.sms_password_file)
        auth = (config.sms_username, password or "") if config.sms_username else None
        self._http = JsonHttp(
            "SMS gateway",
            config.sms_url,
            timeout_s=config.backend_timeout_s,
            retries=config.backend_retries,
            auth=auth,
        )
        self._sender = config.sms_sender

    def send(self, sms: Sms) -> str:
        # Not idempotent: only a refused connection is retried, never a timeout.
        answer = self._http.request(
            "POST",
            "",
            json={"to": sms.to, "text": sms.text, "from": self._sender},
            idempotent=False,
        )
        if not isinstance(answer, dict) or not answer.get("id"):
            raise BackendError(f"SMS gateway answered without a message id: {answer!r}")
        return str(answer["id"])


def build_sms(config: BackendConfig) -> SmsGateway:
    if config.sms == "http":
        return HttpSms(config)
    return OutboxSms(config.state_dir / "outbox" / "sms", config.sms_sender)
