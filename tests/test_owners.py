"""Owner isolation and the seed's history list 2.1-2.3, on the real daemon."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from worker import Forbidden, NotFound

from .conftest import ADMIN, ALICE, BOB, HELPER, Daemon, processed_at_least, watch_until

pytestmark = pytest.mark.integration

LONG = {"iterations": 10**9, "checkEvery": 50}


def test_2_1_a_cancelled_job_appears_in_its_owners_history(daemon: Daemon) -> None:
    with daemon.client() as c:
        job = c.submit("diag.spin", LONG)["jobId"]
        with daemon.client() as w:
            watch_until(w, job, processed_at_least(100))
        c.cancel(job)
        c.wait(job, timeout=60)
        hist = c.call("history")
    (entry,) = hist["jobs"]
    assert entry["id"] == job
    assert entry["userId"] == ALICE
    assert entry["jobType"] == "diag.spin"
    assert entry["status"] == "cancelled"
    assert entry["error"] is None
    assert entry["details"]["type"] == "cancelled"
    assert entry["durationMs"] >= 0
    assert entry["startedAt"] <= entry["completedAt"]


def test_2_2_history_is_per_user(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a, daemon.client(BOB) as b:
        mine = [a.submit("diag.spin", {"iterations": 10})["jobId"] for _ in range(3)]
        theirs = [b.submit("diag.spin", {"iterations": 10})["jobId"] for _ in range(2)]
        for j in mine:
            a.wait(j, timeout=60)
        for j in theirs:
            b.wait(j, timeout=60)
        ha, hb = a.call("history"), b.call("history")
    assert sorted(e["id"] for e in ha["jobs"]) == sorted(mine) and ha["total"] == 3
    assert sorted(e["id"] for e in hb["jobs"]) == sorted(theirs) and hb["total"] == 2
    with daemon.client(ADMIN, role="admin") as admin:
        assert admin.call("history")["total"] == 5


def test_2_3_completed_and_failed_entries_carry_the_user_id(daemon: Daemon) -> None:
    with daemon.client() as c:
        ok = c.submit("diag.spin", {"iterations": 10})["jobId"]
        bad = c.submit("diag.crash", {"how": "exception"})["jobId"]
        c.wait(ok, timeout=60)
        c.wait(bad, timeout=60)
        entries = {e["id"]: e for e in c.call("history")["jobs"]}
    assert entries[ok]["status"] == "completed" and entries[ok]["userId"] == ALICE
    assert entries[bad]["status"] == "failed" and entries[bad]["userId"] == ALICE
    assert "RuntimeError" in entries[bad]["error"]


def test_history_survives_a_restart(make_daemon: Any) -> None:
    d = make_daemon()
    with d.client() as c:
        job = c.submit("diag.spin", {"iterations": 10})["jobId"]
        c.wait(job, timeout=60)
    assert d.stop() == 0
    d2 = make_daemon()
    with d2.client() as c:
        assert [e["id"] for e in c.call("history")["jobs"]] == [job]
        assert c.status(job)["state"] == "completed"


def test_a_stranger_learns_nothing_from_status_wait_history_or_jobs(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", LONG)["jobId"]
    with daemon.client(BOB) as b:
        with pytest.raises(NotFound) as e1:
            b.status(job)
        with pytest.raises(NotFound) as e2:
            b.wait(job, timeout=1)
        with pytest.raises(NotFound):
            list(b.stream("watch", jobIds=[job]))
        assert b.call("jobs") == {"jobs": []}
        assert b.call("history") == {"jobs": [], "total": 0}
    # Exactly what a job that does not exist looks like.
    assert str(e1.value) == f"no job {job}" and e1.value.code == e2.value.code == "NOT_FOUND"
    with daemon.client(ALICE) as a:
        a.cancel(job)
        a.wait(job, timeout=60)


def test_watch_streams_only_the_callers_jobs(daemon: Daemon) -> None:
    seen: list[dict[str, Any]] = []
    started = threading.Event()

    with daemon.client(BOB) as bob_watch:

        def follow() -> None:
            it = bob_watch.stream("watch")
            started.set()
            for doc in it:
                seen.append(doc)
                if doc["state"] == "completed":
                    return

        # stream() returns once the supervisor acknowledged: Bob's subscription exists.
        t = threading.Thread(target=follow)
        t.start()
        started.wait(60)
        with daemon.client(ALICE) as a:
            alice_job = a.submit("diag.spin", {"iterations": 50_000})["jobId"]
            a.wait(alice_job, timeout=60)
        with daemon.client(BOB) as b:
            bob_job = b.submit("diag.spin", {"iterations": 10})["jobId"]
        t.join(60)
    assert not t.is_alive()
    assert seen, "Bob saw nothing of his own job"
    assert {d["jobId"] for d in seen} == {bob_job}
    assert alice_job not in {d["jobId"] for d in seen}


def test_a_worker_acts_for_its_employer(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", LONG)["jobId"]
    with daemon.client(HELPER, role="worker", owner=ALICE) as helper:
        assert helper.status(job)["jobId"] == job
        assert helper.cancel(job)["outcome"] in ("cancel_requested", "cancelled")
        assert helper.wait(job, timeout=60)["state"] == "cancelled"
        # and what a worker submits belongs to the employer
        own = helper.submit("diag.spin", {"iterations": 10})["jobId"]
        helper.wait(own, timeout=60)
    with daemon.client(ALICE) as a:
        assert {e["id"] for e in a.call("history")["jobs"]} == {job, own}


def test_an_admin_sees_and_cancels_anything_and_only_admins_get_stats(daemon: Daemon) -> None:
    with daemon.client(ALICE) as a:
        job = a.submit("diag.spin", LONG)["jobId"]
    with daemon.client(ADMIN, role="admin") as admin:
        assert admin.status(job)["jobId"] == job
        assert [d["jobId"] for d in admin.call("jobs")["jobs"]] == [job]
        admin.cancel(job)
        assert admin.wait(job, timeout=60)["state"] == "cancelled"
        stats = admin.call("stats")
        assert len(stats["processes"]) == 2
        assert all(p["rssBytes"] > 0 for p in stats["processes"])
    with daemon.client(ALICE) as a, pytest.raises(Forbidden):
        a.call("stats")
