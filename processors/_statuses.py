"""Status documents: tagged by ``type``, camelCase on the wire, as in the seed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_ERRORS = 1000


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Queued(_Status):
    type: Literal["queued"] = "queued"


class Processing(_Status):
    type: Literal["processing"] = "processing"
    processed: int | None = None
    total: int | None = None
    progress: int | None = None
    message: str | None = None


class RowError(_Status):
    row: int
    message: str


class ImportCompleted(_Status):
    type: Literal["completed"] = "completed"
    total: int
    succeeded: int
    failed: int
    errors: list[RowError] = Field(default_factory=list)
    errors_omitted: int = 0


class Completed(_Status):
    type: Literal["completed"] = "completed"
    result: dict[str, Any] | None = None


class ImportCancelled(_Status):
    type: Literal["cancelled"] = "cancelled"
    processed: int
    total: int
    succeeded: int | None = None  # of the processed rows, how many were written
    failed: int | None = None


class MessageCancelled(_Status):
    type: Literal["cancelled"] = "cancelled"
    message: str


class Failed(_Status):
    type: Literal["failed"] = "failed"
    error: str
    detail: str | None = None


class ErrorCollector:
    """Per-row errors: keeps the first MAX_ERRORS, counts the rest."""

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.count = 0

    def add(self, row: int, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(RowError(row=row, message=message))

    @property
    def omitted(self) -> int:
        return self.count - len(self.kept)
