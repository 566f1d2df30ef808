"""The journal and history store: durability, isolation, retention."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from worker._errors import IllegalTransition
from worker._history import JobHistory
from worker._jobs import Job
from worker._states import JobState
from worker._store import SqliteStore

A = "a11ce000-0000-4000-8000-000000000001"
B = "b0b00000-0000-4000-8000-000000000002"


def _job(owner: str, n: int, state: JobState = JobState.QUEUED) -> Job:
    return Job(
        id=f"00000000-0000-4000-8000-{n:012d}",
        owner=owner,
        type="diag.spin",
        payload={"iterations": n},
        submitted_at=1000.0 + n,
        state=state,
    )


def _finish(job: Job, state: JobState, t: float) -> Job:
    job.state = state
    job.started_at = t - 1
    job.finished_at = t
    job.status = {"type": state.value}
    return job


def test_added_jobs_are_recovered_in_order(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        await store.add([_job(A, i) for i in range(5)])
        await store.close()

    asyncio.run(go())
    store2 = SqliteStore(tmp_path)
    jobs = store2.recover()
    assert [j.payload["iterations"] for j in jobs] == [0, 1, 2, 3, 4]
    assert all(j.state is JobState.QUEUED and j.owner == A for j in jobs)
    asyncio.run(store2.close())


def test_group_commit_puts_concurrent_writes_in_few_transactions(tmp_path: Path) -> None:
    async def go() -> int:
        store = SqliteStore(tmp_path)
        await asyncio.gather(*(store.add([_job(A, i)]) for i in range(500)))
        commits = store.commits
        await store.close()
        return commits

    commits = asyncio.run(go())
    assert commits < 50, commits
    store = SqliteStore(tmp_path)
    assert len(store.recover()) == 500
    asyncio.run(store.close())


def test_history_records_and_isolates_users(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        history = JobHistory(store)
        jobs = [_job(A, 1), _job(A, 2), _job(B, 3)]
        await store.add(jobs)
        await history.record_completed(_finish(jobs[0], JobState.COMPLETED, 2000))
        await history.record_cancelled(_finish(jobs[1], JobState.CANCELLED, 2001))
        await history.record_failed(_finish(jobs[2], JobState.FAILED, 2002))
        mine = history.get_recent_for_user(A, 10)
        assert [e["status"] for e in mine["jobs"]] == ["cancelled", "completed"]
        assert mine["total"] == 2 and {e["userId"] for e in mine["jobs"]} == {A}
        assert history.get_recent_for_user(B, 10)["total"] == 1
        assert history.get_recent_for_user(None, 10)["total"] == 3
        assert store.recover() == []  # finished jobs left the journal
        with pytest.raises(IllegalTransition):
            history.record_cancelled(_finish(_job(A, 9), JobState.COMPLETED, 1))
        await store.close()

    asyncio.run(go())


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        now = time.time()
        jobs = [_job(A, i) for i in range(300)]
        await store.add(jobs)
        for i, j in enumerate(jobs):
            store.finish(_finish(j, JobState.COMPLETED, now - 300 + i))
        old = _finish(_job(B, 999), JobState.COMPLETED, now - 40 * 86400)
        await store.add([old])
        await store.finish(old)
        await store.prune(max_age_s=30 * 86400, max_entries=100)
        entries, total = store.history(None, 1000)
        assert total == 100
        assert entries[0].id == jobs[-1].id and entries[-1].id == jobs[200].id
        await store.close()

    asyncio.run(go())


def test_one_bad_write_fails_only_its_caller(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(tmp_path)
        await store.add([_job(A, 1)])
        good = store.add([_job(A, 2)])
        broken = _job(A, 9)
        broken.owner = None  # type: ignore[assignment]  # violates NOT NULL
        duplicate = store.add([broken])
        also_good = store.add([_job(B, 3)])
        results = await asyncio.gather(good, duplicate, also_good, return_exceptions=True)
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], Exception) and "journal write failed" in str(results[1])
        assert sorted(j.payload["iterations"] for j in store.recover()) == [1, 2, 3]
        await store.close()

    asyncio.run(go())
