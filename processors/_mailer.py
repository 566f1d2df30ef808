"""Mailers: ``.eml`` files in an outbox (the embedded default) or SMTP with STARTTLS
and authentication."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from ._backends import BackendConfig
from ._errors import BackendError, BackendUnavailable
from ._outbox import deliver


@dataclass(frozen=True, slots=True)
class Mail:
    to: list[str]
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None


class Mailer(Protocol):
    name: str

    def send(self, mail: Mail) -> str:
        """Send; returns the Message-ID."""
        ...


def compose(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    return msg


class OutboxMailer:
    """Writes each message as an .eml file; nothing leaves the machine."""

    name = "outbox"

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    def send(self, mail: Mail) -> str:
        msg = compose(mail, self._sender)
        deliver(self.directory, f"{uuid.uuid4()}.eml", bytes(msg))
        return str(msg["Message-ID"])


class SmtpMailer:
    name = "smtp"

    def __init__(self, config: BackendConfig) -> None:
        self._c = config
        self._password = config.secret(config.smtp_password_file)

    def send(self, mail: Mail) -> str:
        c = self._c
        msg = compose(mail, c.mail_from)
        try:
            with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.backend_timeout_s) as smtp:
                smtp.ehlo()
                if c.smtp_starttls:
                    context = ssl.create_default_context(
                        cafile=str(c.smtp_ca_file) if c.smtp_ca_file else None
                    )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if c.smtp_username:
                    smtp.login(c.smtp_username, self._password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise BackendError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise BackendError(f"SMTP refused every recipient: {sorted(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            raise BackendError(f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}") from None
        except (smtplib.SMTPException, ssl.SSLError) as exc:
            raise BackendError(f"SMTP failed: {exc}") from None
        except OSError as exc:
            raise BackendUnavailable(
                f"SMTP server {c.smtp_host}:{c.smtp_port} unreachable: {exc}"
            ) from None
        if refused:
            raise BackendError(f"SMTP refused some recipients: {sorted(refused)}")
        return str(msg["Message-ID"])


def build_mailer(config: BackendConfig) -> Mailer:
    if config.mailer == "smtp":
        return SmtpMailer(config)
    return OutboxMailer(config.state_dir / "outbox" / "mail", config.mail_from)
