"""One error hierarchy inside; stable codes, i18n keys and exit codes at the edge.

The supervisor raises these; the control server turns them into
``{"code", "message", "key"}`` on the wire; ``sazinkactl`` turns the code back
into an exit status. Nothing else crosses the socket.
"""

from __future__ import annotations

from typing import ClassVar


class WorkerError(Exception):
    code: ClassVar[str] = "INTERNAL"
    key: ClassVar[str] = "errors:internal"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if key is not None:
            self.key = key  # type: ignore[misc]

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "key": self.key}


class InvalidArgument(WorkerError):
    code = "INVALID_ARGUMENT"
    key = "errors:invalid_argument"
    exit_code = 2


class UnknownJobType(InvalidArgument):
    code = "UNKNOWN_JOB_TYPE"
    key = "jobs:unknown_type"


class PayloadTooLarge(InvalidArgument):
    code = "PAYLOAD_TOO_LARGE"
    key = "errors:payload_too_large"


class Unavailable(WorkerError):
    code = "UNAVAILABLE"
    key = "errors:unavailable"
    exit_code = 3


class Unauthorized(WorkerError):
    code = "UNAUTHORIZED"
    key = "errors:unauthorized"
    exit_code = 4


class Forbidden(WorkerError):
    code = "FORBIDDEN"
    key = "errors:forbidden"
    exit_code = 4


class NotFound(WorkerError):
    code = "NOT_FOUND"
    key = "jobs:not_found"
    exit_code = 5


class DeadlineExceeded(WorkerError):
    code = "DEADLINE_EXCEEDED"
    key = "jobs:wait_timeout"
    exit_code = 1


class Internal(WorkerError):
    pass


class IllegalTransition(Internal):
    """A state change the state machine does not allow: a bug, never user input."""


_BY_CODE: dict[str, type[WorkerError]] = {
    cls.code: cls
    for cls in (
        Internal,
        InvalidArgument,
        UnknownJobType,
        PayloadTooLarge,
        Unavailable,
        Unauthorized,
        Forbidden,
        NotFound,
        DeadlineExceeded,
    )
}


def from_wire(doc: object) -> WorkerError:
    """Rebuild an error received from the supervisor. Unknown codes become INTERNAL."""
    if not isinstance(doc, dict):
        return Internal(f"malformed error from the supervisor: {doc!r}")
    code = str(doc.get("code", "INTERNAL"))
    cls = _BY_CODE.get(code, Internal)
    err = cls(str(doc.get("message", code)), key=str(doc.get("key", cls.key)))
    if cls is Internal and code != "INTERNAL":
        err.code = code  # type: ignore[misc]
    return err


def exit_code_for(code: str) -> int:
    return _BY_CODE.get(code, Internal).exit_code
