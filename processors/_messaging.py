"""``email`` and ``sms``: one message each, atomic (checked once, at start)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ._api import Category, ProcessorSpec
from ._context import JobContext
from ._mailer import Mail
from ._schemas import SentCompleted
from ._sms import Sms

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164 = r"^\+[1-9]\d{6,14}$"


class EmailPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: list[Annotated[str, Field(max_length=254, pattern=EMAIL)]] = Field(
        min_length=1, max_length=50
    )
    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(max_length=200_000)
    html: str | None = Field(default=None, max_length=500_000)
    replyTo: Annotated[str, Field(max_length=254, pattern=EMAIL)] | None = None  # noqa: N815


class SmsPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(pattern=E164, description="E.164, e.g. +420777123456")
    text: str = Field(min_length=1, max_length=1600)


def run_email(ctx: JobContext, p: EmailPayload) -> dict[str, Any]:
    mailer = ctx.backends.mailer
    message_id = mailer.send(Mail(list(p.to), p.subject, p.text, p.html, p.replyTo))
    return {"type": "completed", "result": {"messageId": message_id, "via": mailer.name}}


def run_sms(ctx: JobContext, p: SmsPayload) -> dict[str, Any]:
    gateway = ctx.backends.sms
    message_id = gateway.send(Sms(p.to, p.text))
    return {"type": "completed", "result": {"messageId": message_id, "via": gateway.name}}


SPECS = (
    ProcessorSpec(
        name="email",
        category=Category.ATOMIC,
        run=run_email,
        payload_model=EmailPayload,
        rerun_safe=False,  # a second copy would reach the recipient
        completed_model=SentCompleted,
        description="one e-mail through the configured mailer",
    ),
    ProcessorSpec(
        name="sms",
        category=Category.ATOMIC,
        run=run_sms,
        payload_model=SmsPayload,
        rerun_safe=False,
        completed_model=SentCompleted,
        description="one SMS through the configured gateway",
    ),
)
