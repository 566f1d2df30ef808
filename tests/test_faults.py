"""Worker crashes, supervisor crashes and restarts, SIGTERM: every job ends visibly."""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import Any

import psutil
import pytest

from ipc import FlagTable, list_segments

from .conftest import Daemon, processed_at_least, watch_until

pytestmark = pytest.mark.integration

LONG = {"iterations": 10**9, "checkEvery": 50}


def _worker_of(daemon: Daemon, job: str) -> int:
    """The pid of the worker process running ``job`` (admin stats name them)."""
    with daemon.client(role="admin") as admin:
        (pid,) = [p["pid"] for p in admin.call("stats")["processes"] if job in p["jobIds"]]
    return int(pid)


def test_sigkill_of_a_worker_fails_its_job_and_replaces_the_process(daemon: Daemon) -> None:
    with daemon.client() as c:
        job = c.submit("diag.spin", LONG)["jobId"]
        with daemon.client() as w:
            watch_until(w, job, processed_at_least(100))
        victim = _worker_of(daemon, job)
        os.kill(victim, signal.SIGKILL)
        doc = c.wait(job, timeout=60)
        assert doc["state"] == "failed"
        assert doc["status"]["error"] == "worker_lost"
        assert doc["status"]["detail"] == f"worker process {victim} killed by SIGKILL"
        # the owner sees it in history too
        (entry,) = c.call("history")["jobs"]
        assert entry["status"] == "failed" and entry["error"] == "worker_lost"
        # The pool is whole again and runs jobs.
        after = c.submit("diag.spin", {"iterations": 10}, count=4)["jobIds"]
        assert {c.wait(j, timeout=60)["state"] for j in after} == {"completed"}
    with daemon.client(role="admin") as admin:
        pids = [p["pid"] for p in admin.call("stats")["processes"]]
        assert len(pids) == 2 and victim not in pids and all(psutil.pid_exists(p) for p in pids)


@pytest.mark.parametrize(
    ("how", "signame"),
    [("sigkill", "SIGKILL"), ("abort", "SIGABRT"), ("segfault", "SIGSEGV")],
)
def test_crash_matrix(daemon: Daemon, how: str, signame: str) -> None:
    with daemon.client() as c:
        neighbour = c.submit("diag.spin", {"iterations": 10**9, "sleepMs": 1, "checkEvery": 1})[
            "jobId"
        ]
        crash = c.submit("diag.crash", {"how": how})["jobId"]
        doc = c.wait(crash, timeout=60)
        assert doc["state"] == "failed"
        assert doc["status"]["error"] == "worker_lost"
        assert doc["status"]["detail"].endswith(f"killed by {signame}")
        # A neighbour on the same process is lost too, and says so; on the other it runs on.
        c.cancel(neighbour)
        assert c.wait(neighbour, timeout=60)["state"] in ("cancelled", "failed")


def test_a_cancelling_job_whose_worker_dies_ends_cancelled_with_its_progress(
    daemon: Daemon,
) -> None:
    with daemon.client() as c:
        job = c.submit("diag.crash", {"how": "sigkill", "afterMs": 60_000})["jobId"]
        with daemon.client() as w:
            watch_until(w, job, processed_at_least(1))  # it wrote progress 1/2, then sleeps
        victim = _worker_of(daemon, job)
        # Freeze the worker so the job cannot confirm, ask to cancel, then kill it.
        os.kill(victim, signal.SIGSTOP)
        assert c.cancel(job)["outcome"] == "cancel_requested"
        os.kill(victim, signal.SIGKILL)
        doc = c.wait(job, timeout=60)
    assert doc["state"] == "cancelled"
    assert doc["status"] == {"type": "cancelled", "processed": 1, "total": 2}


def test_sigterm_puts_running_jobs_back_and_they_run_after_restart(make_daemon: Any) -> None:
    d = make_daemon()
    with d.client() as c:
        running = c.submit("diag.spin", {"iterations": 3_000_000, "checkEvery": 50})["jobId"]
        with d.client() as w:
            watch_until(w, running, processed_at_least(1000))
        atomic = c.submit("diag.atomic", {"sleepMs": 500})["jobId"]
        with d.client() as w:
            watch_until(w, atomic, lambda doc: doc["state"] == "running")
    assert d.stop() == 0
    journal = sqlite3.connect(d.state_dir / "journal.sqlite")
    assert journal.execute("SELECT id, state FROM jobs").fetchall() == [(running, "queued")]
    journal.close()
    d2 = make_daemon()
    with d2.client() as c:
        assert c.status(atomic)["state"] == "completed"  # it was let finish
        doc = c.wait(running, timeout=120)
    assert doc["state"] == "completed"
    assert doc["status"]["succeeded"] == 3_000_000


def test_a_supervisor_crash_then_restart_recovers_every_job(make_daemon: Any) -> None:
    d = make_daemon()
    with d.client() as c:
        rerunnable = c.submit("diag.spin", {"iterations": 400_000, "checkEvery": 50})["jobId"]
        with d.client() as w:
            watch_until(w, rerunnable, processed_at_least(100))
        fragile = c.submit("diag.atomic", {"sleepMs": 60_000})["jobId"]
        with d.client() as w:
            watch_until(w, fragile, lambda doc: doc["state"] == "running")
        stopping = c.submit("diag.crash", {"how": "exception", "afterMs": 60_000})["jobId"]
        with d.client() as w:
            watch_until(w, stopping, lambda doc: doc["state"] == "running")
        victim = _worker_of(d, stopping)
        os.kill(victim, signal.SIGSTOP)  # it cannot confirm the cancel before the crash
        assert c.cancel(stopping)["outcome"] == "cancel_requested"
        queued = c.submit("diag.spin", {"iterations": 10}, count=3)["jobIds"]
    segment = [s for s in list_segments() if s.startswith(f"sazinka-{d.pid}-")]
    assert len(segment) == 1
    d.kill()
    assert segment[0] in list_segments()  # a dead supervisor leaves its segment...
    d2 = make_daemon()
    assert segment[0] not in list_segments()  # ...which the next start removes
    with d2.client() as c:
        assert c.wait(rerunnable, timeout=120)["state"] == "completed"
        frag = c.wait(fragile, timeout=60)
        assert frag["state"] == "failed" and frag["status"]["error"] == "interrupted"
        stop = c.wait(stopping, timeout=60)
        assert stop["state"] == "cancelled"
        assert {c.wait(j, timeout=60)["state"] for j in queued} == {"completed"}
        assert c.call("history", limit=100)["total"] == 6


def test_the_segment_is_unlinked_on_a_clean_stop(make_daemon: Any) -> None:
    d = make_daemon()
    mine = [s for s in list_segments() if s.startswith(f"sazinka-{d.pid}-")]
    assert len(mine) == 1
    table = FlagTable.attach(mine[0])
    assert table.n_slots == 16
    table.close()
    assert d.stop() == 0
    assert mine[0] not in list_segments()
    assert not (d.state_dir / "control.sock").exists()


def test_files_are_created_with_tight_permissions(daemon: Daemon) -> None:
    def mode(p: Any) -> int:
        return os.stat(p).st_mode & 0o777

    assert mode(daemon.state_dir / "jwt.secret") == 0o600
    assert mode(daemon.state_dir / "control.sock") == 0o660
    assert mode(daemon.state_dir) == 0o750
    assert mode(daemon.state_dir / "journal.sqlite") == 0o600
    assert mode(daemon.state_dir / "spool") == 0o700
    assert len((daemon.state_dir / "jwt.secret").read_bytes().strip()) >= 32


def test_a_second_supervisor_on_the_same_state_dir_refuses(daemon: Daemon) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "worker", "serve"],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 3
    assert "another supervisor" in out.stderr
    with daemon.client() as c:
        assert c.call("ping")["pid"] == daemon.pid  # the first one is unharmed


def test_a_wait_in_progress_at_sigterm_is_told_the_supervisor_is_stopping(make_daemon: Any) -> None:
    import threading

    from worker import Unavailable

    d = make_daemon()
    with d.client() as c:
        job = c.submit("diag.spin", LONG)["jobId"]
    outcome: list[BaseException] = []
    asked = threading.Event()

    def waiter() -> None:
        with d.client() as w:
            try:
                asked.set()
                w.wait(job)
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    asked.wait(60)
    with d.client(role="admin") as admin:  # the wait is registered before the stop
        assert any(admin.call("stats")["waiters"] == 1 for _ in range(10_000))
    assert d.stop() == 0
    t.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], Unavailable)
