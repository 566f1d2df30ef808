"""Job states and the transitions between them. A leaf: imports nothing of the project.

::

    queued ──> running ──> completed | failed
      │  ^        │
      │  └────────┤ (interrupted: shutdown, or rerun after a supervisor crash)
      │           v
      │       cancelling ──> cancelled | completed | failed
      v
    cancelled (it never starts)

``cancelled`` is terminal and nothing leaves a terminal state, so a cancelled
job is never overwritten and never retried.
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})

Q, R, C = JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING

TRANSITIONS: dict[tuple[JobState, JobState], str] = {
    # QUEUED -> RUNNING: the supervisor placed it in a slot and sent it to a worker
    (Q, R): "dispatched",
    # QUEUED -> CANCELLED: cancelled in the queue; it never starts
    (Q, JobState.CANCELLED): "cancelled while queued",
    # QUEUED -> FAILED: it could not be started at all (its type is gone after a restart)
    (Q, JobState.FAILED): "cannot start",
    # RUNNING -> COMPLETED / FAILED: the worker reported its outcome, or died
    (R, JobState.COMPLETED): "finished",
    (R, JobState.FAILED): "failed, lost its worker, or was interrupted and is not safe to rerun",
    # RUNNING -> CANCELLING: cancel requested; the job stops at its next checkpoint
    (R, C): "cancel requested",
    # RUNNING -> QUEUED: stopped by a shutdown, or found running after a crash; runs again
    (R, Q): "interrupted",
    # CANCELLING -> CANCELLED: the job confirmed it stopped (or its worker died meanwhile)
    (C, JobState.CANCELLED): "stopped at a checkpoint",
    # CANCELLING -> COMPLETED / FAILED: it ended before it reached a checkpoint
    (C, JobState.COMPLETED): "finished before a checkpoint",
    (C, JobState.FAILED): "failed before a checkpoint",
}


def can_move(current: JobState, new: JobState) -> bool:
    return (current, new) in TRANSITIONS
