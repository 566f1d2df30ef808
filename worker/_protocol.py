"""The control protocol: request and argument shapes, validated at the edge.

Request  ``{"id": int, "op": str, "token": str, "args": {...}}``
Replies  ``{"id", "ok": doc}`` | ``{"id", "error": {"code", "message", "key"}}``
Streams  ``{"id", "event": doc}`` ... then ``{"id", "end": true}`` (``watch``)

Field names are camelCase on the wire, as in the seed's shared types.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._errors import InvalidArgument

PROTOCOL_VERSION = 1

Op = Literal[
    "ping", "submit", "cancel", "status", "wait", "jobs", "history", "watch", "stats", "fetch"
]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _job_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("not a job id (UUID)") from None


class Request(_Args):
    id: int = 0
    op: Op
    token: str | None = Field(default=None, max_length=8192)
    args: dict[str, Any] = Field(default_factory=dict)


class NoArgs(_Args):
    pass


class SubmitArgs(_Args):
    type: str = Field(max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    file: bytes | None = None
    count: int | None = Field(default=None, ge=1)  # given: the answer lists jobIds


class JobArgs(_Args):
    jobId: str  # noqa: N815 - wire name

    _check = field_validator("jobId")(_job_id)


class WaitArgs(JobArgs):
    timeout: float | None = Field(default=None, gt=0)


class FetchArgs(JobArgs):
    offset: int = Field(default=0, ge=0)
    length: int = Field(default=4 * 1024 * 1024, ge=1, le=16 * 1024 * 1024)


class HistoryArgs(_Args):
    limit: int = Field(default=50, ge=1, le=1000)


class WatchArgs(_Args):
    jobIds: list[str] = Field(default_factory=list, max_length=1000)  # noqa: N815 - wire name

    @field_validator("jobIds")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        return [_job_id(x) for x in v]


ARGS: dict[str, type[_Args]] = {
    "ping": NoArgs,
    "submit": SubmitArgs,
    "cancel": JobArgs,
    "status": JobArgs,
    "wait": WaitArgs,
    "jobs": NoArgs,
    "history": HistoryArgs,
    "watch": WatchArgs,
    "stats": NoArgs,
    "fetch": FetchArgs,
}


def describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def parse_request(msg: Any) -> tuple[Request, _Args]:
    try:
        req = Request.model_validate(msg)
        args = ARGS[req.op].model_validate(req.args)
    except ValidationError as exc:
        raise InvalidArgument(f"bad request: {describe(exc)}") from None
    return req, args


# -- replies (documented as JSON Schema by `sazinkactl schema`; tests check real ones) --


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


JobStateName = Literal["queued", "running", "cancelling", "completed", "failed", "cancelled"]


class SubmitReply(_Reply):
    jobId: str  # noqa: N815 - wire name
    jobType: str  # noqa: N815 - wire name
    state: Literal["queued"]


class SubmitManyReply(_Reply):
    jobIds: list[str]  # noqa: N815 - wire name
    jobType: str  # noqa: N815 - wire name
    state: Literal["queued"]


class CancelReply(_Reply):
    jobId: str  # noqa: N815 - wire name
    outcome: Literal["cancelled", "cancel_requested", "not_cancellable", "already_finished"]
    message: str
    state: JobStateName


class StatusDocument(_Reply):
    jobId: str  # noqa: N815 - wire name
    jobType: str  # noqa: N815 - wire name
    state: JobStateName
    status: dict[str, Any] = Field(description="see <jobType>.status.schema.json")
    submittedAt: str | None  # noqa: N815 - wire name
    startedAt: str | None  # noqa: N815 - wire name
    finishedAt: str | None  # noqa: N815 - wire name


class JobsReply(_Reply):
    jobs: list[StatusDocument]


class HistoryEntry(_Reply):
    id: str
    userId: str  # noqa: N815 - wire name
    jobType: str  # noqa: N815 - wire name
    status: Literal["completed", "failed", "cancelled"]
    startedAt: str | None  # noqa: N815 - wire name
    completedAt: str  # noqa: N815 - wire name
    durationMs: int  # noqa: N815 - wire name
    error: str | None
    details: dict[str, Any] | None


class HistoryReply(_Reply):
    jobs: list[HistoryEntry]
    total: int


class ErrorBody(_Reply):
    code: str
    message: str
    key: str


class ErrorReply(_Reply):
    error: ErrorBody


REPLIES: dict[str, type[BaseModel]] = {
    "submit": SubmitReply,
    "submit-count": SubmitManyReply,
    "cancel": CancelReply,
    "status": StatusDocument,
    "jobs": JobsReply,
    "history": HistoryReply,
    "error": ErrorReply,
}
