"""The seed's TDD list 1.1-1.7 as behaviours of the real daemon, over the real socket."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker import Forbidden, InvalidArgument, NotFound

from .conftest import BOB, Daemon, processed_at_least, watch_until

pytestmark = pytest.mark.integration

LONG_SPIN = {"iterations": 10**9, "checkEvery": 50}  # would take ~20 minutes


def _submit(daemon: Daemon, payload: dict[str, Any], job_type: str = "diag.spin", **kw: Any) -> str:
    with daemon.client(**kw) as c:
        return str(c.submit(job_type, payload)["jobId"])


def _running(daemon: Daemon, job_id: str, at_least: int = 1) -> dict[str, Any]:
    with daemon.client() as w:
        return watch_until(w, job_id, processed_at_least(at_least))


def test_1_1_a_started_job_is_not_cancelled_and_completes(daemon: Daemon) -> None:
    job = _submit(daemon, {"iterations": 20_000, "checkEvery": 100})
    with daemon.client() as c:
        doc = c.wait(job, timeout=60)
    assert doc["state"] == "completed"
    assert doc["status"] == {
        "type": "completed",
        "total": 20_000,
        "succeeded": 20_000,
        "failed": 0,
        "errors": [],
        "errorsOmitted": 0,
    }
    assert doc["startedAt"] and doc["finishedAt"]


def test_1_2_owner_cancels_a_running_job_which_stops_with_its_progress(daemon: Daemon) -> None:
    job = _submit(daemon, LONG_SPIN)
    seen = _running(daemon, job, at_least=1000)
    assert seen["state"] == "running"
    with daemon.client() as c:
        reply = c.cancel(job)
        assert reply["outcome"] == "cancel_requested"
        assert reply["message"] == "jobs:cancel_requested"
        doc = c.wait(job, timeout=60)
    assert doc["state"] == "cancelled"
    status = doc["status"]
    assert status["type"] == "cancelled"
    assert status["total"] == LONG_SPIN["iterations"]
    assert 1000 <= status["processed"] < status["total"]
    assert status["processed"] % 50 == 0  # it stopped at a checkpoint


def test_1_3_a_stranger_cannot_cancel_and_is_audited(daemon: Daemon) -> None:
    job = _submit(daemon, LONG_SPIN)
    with daemon.client(BOB) as bob, pytest.raises(Forbidden) as info:
        bob.cancel(job)
    assert info.value.key == "jobs:cancel_forbidden"
    with daemon.client() as c:
        assert c.status(job)["state"] in ("queued", "running")
        c.cancel(job)
        c.wait(job, timeout=60)
    lines = [json.loads(x) for x in (daemon.state_dir / "audit.log").read_text().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["event"] == "cancel_forbidden"
    assert entry["caller"] == BOB
    assert entry["job"] == job
    assert entry["peer"]["uid"] >= 0 and entry["peer"]["pid"] > 0


def test_1_4_cancelling_a_job_that_does_not_exist(daemon: Daemon) -> None:
    with daemon.client() as c, pytest.raises(NotFound):
        c.cancel("00000000-0000-4000-8000-00000000dead")
    with daemon.client() as c, pytest.raises(InvalidArgument):
        c.cancel("not-a-uuid")


def test_1_5_a_job_cancelled_in_the_queue_never_starts(daemon: Daemon) -> None:
    # 2 processes x 1 cpu slot: two CPU-bound jobs fill them, the third waits.
    blockers = [_submit(daemon, LONG_SPIN) for _ in range(2)]
    for b in blockers:
        _running(daemon, b)
    queued = _submit(daemon, {"iterations": 1000})
    with daemon.client() as c:
        assert c.status(queued)["state"] == "queued"
        reply = c.cancel(queued)
        assert reply["outcome"] == "cancelled"
        doc = c.status(queued)
        assert doc["state"] == "cancelled"
        assert doc["startedAt"] is None
        assert doc["status"] == {"type": "cancelled", "processed": 0, "total": 0}
        # A slot frees up: the cancelled job still never starts.
        c.cancel(blockers[0])
        c.wait(blockers[0], timeout=60)
        follow = c.submit("diag.spin", {"iterations": 10})["jobId"]
        assert c.wait(follow, timeout=60)["state"] == "completed"
        assert c.status(queued)["startedAt"] is None
        c.cancel(blockers[1])
        c.wait(blockers[1], timeout=60)


def test_1_6_slots_are_freed_whatever_the_outcome(daemon: Daemon) -> None:
    with daemon.client() as c:
        ids = [
            c.submit("diag.crash", {"how": how})["jobId"]
            for how in ("exception", "exit", "base_exception")
        ]
        ids += c.submit("diag.spin", {"iterations": 100, "sleepMs": 1}, count=40)["jobIds"]
        docs = [c.wait(j, timeout=60) for j in ids]
    assert [d["state"] for d in docs[:3]] == ["failed"] * 3
    assert docs[0]["status"]["error"] == "RuntimeError: diag.crash asked for an exception"
    assert "SystemExit" in docs[1]["status"]["error"]
    assert "KeyboardInterrupt" in docs[2]["status"]["error"]
    assert all(d["state"] == "completed" for d in docs[3:])
    with daemon.client(role="admin") as admin:
        stats = admin.call("stats")
    assert stats["busy"] == 0
    assert stats["queued"] == 0
    assert stats["slots"] == 16


def test_1_7_exactly_one_outcome_per_job(daemon: Daemon) -> None:
    """The `finally` in the worker reports once: history has one entry per job."""
    with daemon.client() as c:
        ids = c.submit("diag.spin", {"iterations": 500, "checkEvery": 7}, count=30)["jobIds"]
        for j in ids:
            c.wait(j, timeout=60)
        hist = c.call("history", limit=1000)
    assert sorted(e["id"] for e in hist["jobs"]) == sorted(ids)
    assert hist["total"] == 30


def test_cancel_is_idempotent_and_a_finished_job_says_so(daemon: Daemon) -> None:
    job = _submit(daemon, LONG_SPIN)
    _running(daemon, job)
    with daemon.client() as c:
        assert c.cancel(job)["outcome"] == "cancel_requested"
        second = c.cancel(job)
        assert second["outcome"] in ("cancel_requested", "already_finished")
        c.wait(job, timeout=60)
        third = c.cancel(job)
    assert third["outcome"] == "already_finished"
    assert third["state"] == "cancelled"


def test_an_atomic_job_is_not_cancellable_once_running_and_finishes(daemon: Daemon) -> None:
    with daemon.client() as c:
        job = c.submit("diag.atomic", {"sleepMs": 300})["jobId"]
        with daemon.client() as w:
            watch_until(w, job, lambda d: d["state"] != "queued")
        reply = c.cancel(job)
        assert reply["outcome"] in ("not_cancellable", "already_finished")
        assert c.wait(job, timeout=60)["state"] == "completed"


def test_a_sleeping_io_job_wakes_on_cancel(daemon: Daemon) -> None:
    """ctx.sleep is woken by the cancel: a 60 s sleep does not delay the stop."""
    job = _submit(daemon, {"iterations": 10, "checkEvery": 1, "sleepMs": 60_000})
    with daemon.client() as w:
        watch_until(w, job, lambda d: d["state"] == "running")
    with daemon.client() as c:
        c.cancel(job)
        doc = c.wait(job, timeout=30)  # far below the 60 s the job would sleep
    assert doc["state"] == "cancelled"
    assert doc["status"]["processed"] <= 1


def test_many_io_jobs_run_at_once(make_daemon: Any) -> None:
    daemon = make_daemon(threads=100)
    with daemon.client() as c:
        ids = c.submit(
            "diag.spin", {"iterations": 10**6, "checkEvery": 1, "sleepMs": 5}, count=200
        )["jobIds"]
        with daemon.client(role="admin") as admin, daemon.client() as w:
            # Wait until the last one runs, then all 200 are running together.
            watch_until(w, ids[-1], lambda d: d["state"] == "running")
            assert admin.call("stats")["busy"] == 200
        for j in ids:
            c.cancel(j)
        states = {c.wait(j, timeout=60)["state"] for j in ids}
    assert states == {"cancelled"}


def test_phases_are_published_and_a_phase_job_cancels_between_them(daemon: Daemon) -> None:
    phases = [
        {"key": "jobs:loading", "percent": 10, "sleepMs": 0},
        {"key": "jobs:formatting", "percent": 50, "sleepMs": 60_000},
        {"key": "jobs:packing_zip", "percent": 80, "sleepMs": 0},
    ]
    with daemon.client() as c:
        job = c.submit("diag.phases", {"phases": phases})["jobId"]
        with daemon.client() as w:
            doc = watch_until(w, job, lambda d: d["status"].get("message") == "jobs:formatting")
        assert doc["status"] == {"type": "processing", "progress": 50, "message": "jobs:formatting"}
        assert c.cancel(job)["outcome"] == "cancel_requested"
        done = c.wait(job, timeout=60)
    assert done["state"] == "cancelled"
    assert done["status"] == {"type": "cancelled", "message": "jobs:cancelled_by_user"}
