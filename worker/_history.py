"""Job history, per user: the seed's ``JobHistoryService`` with ``user_id``.

Entries live in the journal's ``history`` table (see :mod:`._store`): finishing a
job and recording it are one transaction, so the history can never miss a job
that ended, nor show one that did not.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._errors import IllegalTransition
from ._jobs import Job
from ._states import JobState
from ._store import JobStore


class JobHistory:
    __slots__ = ("_store",)

    def __init__(self, store: JobStore) -> None:
        self._store = store

    def record_completed(self, job: Job) -> asyncio.Future[None]:
        return self._record(job, JobState.COMPLETED)

    def record_failed(self, job: Job) -> asyncio.Future[None]:
        return self._record(job, JobState.FAILED)

    def record_cancelled(self, job: Job) -> asyncio.Future[None]:
        return self._record(job, JobState.CANCELLED)

    def record(self, job: Job) -> asyncio.Future[None]:
        """Whichever of the three the job's terminal state calls for."""
        return self._record(job, job.state)

    def _record(self, job: Job, state: JobState) -> asyncio.Future[None]:
        if job.state is not state or not state.terminal:
            raise IllegalTransition(f"job {job.id} is {job.state}, cannot be recorded as {state}")
        return self._store.finish(job)

    def get_recent_for_user(self, user_id: str | None, limit: int) -> dict[str, Any]:
        """Most recent first; ``user_id=None`` is every user's (admins only).
        ``total`` counts every entry the user has, not only those returned."""
        jobs, total = self._store.history(user_id, limit)
        return {"jobs": [j.history_entry() for j in jobs], "total": total}
