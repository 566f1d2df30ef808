"""What a processor is: its typed record, its cancellation exception."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ipc import CancelReason

if TYPE_CHECKING:
    from ._context import JobContext


class Category(enum.StrEnum):
    """Where a processor can be stopped (the seed's three categories)."""

    LOOP = "loop"  # checks inside its loop, every `check_every` items
    PHASES = "phases"  # checks between phases
    ATOMIC = "atomic"  # checks once, at start; a running one cannot be cancelled


class FileUse(enum.StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class JobCancelled(BaseException):
    """Raised at a checkpoint once the slot's flag is up.

    A ``BaseException``, so a stray ``except Exception:`` in a processor cannot
    swallow it. ``reason`` tells a user's cancel from a shutdown; ``status`` is
    the processor's own cancelled status, when it has one to give.
    """

    def __init__(self, reason: CancelReason, status: dict[str, Any] | None = None) -> None:
        super().__init__(reason.name.lower())
        self.reason = reason
        self.status = status


Run = Callable[["JobContext", Any], dict[str, Any]]


def _never(_payload: Any) -> bool:
    return False


class CancelShape(enum.StrEnum):
    """What a job type's cancelled status carries (the seed's ``Cancelled`` variants)."""

    PROGRESS = "progress"  # {"processed", "total"}: imports, geocode batch, diag.spin
    FILES = "files"  # {"completedFiles", "totalFiles"}: import.zip
    MESSAGE = "message"  # {"message"}: export, route


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """The typed record of one job type."""

    name: str
    category: Category
    run: Run
    payload_model: type[BaseModel]
    check_every: int = 1
    #: whether a job of this payload burns CPU (and so needs one of the process's cpu_slots)
    cpu_bound: Callable[[Any], bool] = field(default=_never)
    #: may a job that was running when the supervisor died simply run again?
    rerun_safe: bool = False
    file: FileUse = FileUse.NONE
    cancel_shape: CancelShape = CancelShape.PROGRESS
    #: the model of its completed status (for the JSON Schema and the tests)
    completed_model: type[BaseModel] | None = None
    description: str = ""

    @property
    def cancellable_while_running(self) -> bool:
        return self.category is not Category.ATOMIC

    def cancelled_status(self, processed: int = 0, total: int = 0) -> dict[str, Any]:
        """The status of a job of this type that stopped after ``processed`` of ``total``
        units (its last progress), when the processor did not give its own."""
        if self.cancel_shape is CancelShape.FILES and not (processed or total):
            return {"type": "cancelled", "completedFiles": 0, "totalFiles": 0}
        # (FILES with progress known only in rows, e.g. its worker died: rows it is.)
        if self.cancel_shape is CancelShape.MESSAGE:
            return {"type": "cancelled", "message": "jobs:cancelled_by_user"}
        return {"type": "cancelled", "processed": processed, "total": total}
