"""The supervisor's record of one job, and the documents clients see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ._states import JobState


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True, eq=False)
class Job:
    id: str
    owner: str
    type: str
    payload: dict[str, Any]
    submitted_at: float
    state: JobState = JobState.QUEUED
    file: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    status: dict[str, Any] | None = None  # the last status document (terminal: the final one)
    error: str | None = None
    attempts: int = 0
    row: int | None = None  # the journal's handle on this job while it is unfinished
    # From the processor's record; not persisted.
    cpu_bound: bool = False
    cancellable: bool = True
    rerun_safe: bool = False
    # Placement while running; not persisted.
    proc: int | None = None
    slot: int | None = None
    gen: int = 0
    seq: int = 0  # last progress seqlock value published
    phase: dict[str, Any] | None = field(default=None)
    cancel_requested_at: float | None = None
    cancel_saved: Any = None  # the journal write of "cancelling" (an asyncio.Future)
    announced: bool = False  # the terminal document went out to subscribers and waiters

    def status_doc(self, progress: tuple[int, int] | None = None) -> dict[str, Any]:
        """The status document of the contract."""
        return {
            "jobId": self.id,
            "jobType": self.type,
            "state": self.state.value,
            "status": self.current_status(progress),
            "submittedAt": iso(self.submitted_at),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
        }

    def current_status(self, progress: tuple[int, int] | None) -> dict[str, Any]:
        if self.state.terminal and self.status is not None:
            return self.status
        if self.state is JobState.QUEUED:
            return {"type": "queued"}
        doc: dict[str, Any] = {"type": "processing"}
        if progress is not None and (progress[0] or progress[1]):
            doc["processed"], doc["total"] = progress
        if self.phase is not None:
            doc.update(self.phase)
        if self.state is JobState.CANCELLING:
            doc["cancelRequested"] = True
        return doc

    def history_entry(self) -> dict[str, Any]:
        """The seed's JobHistoryEntry, with ``userId``."""
        assert self.finished_at is not None
        start = self.started_at
        return {
            "id": self.id,
            "userId": self.owner,
            "jobType": self.type,
            "status": self.state.value,
            "startedAt": iso(start),
            "completedAt": iso(self.finished_at),
            "durationMs": round((self.finished_at - start) * 1000) if start else 0,
            "error": self.error,
            "details": self.status,
        }
