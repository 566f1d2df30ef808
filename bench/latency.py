"""3. Cancel latency: from the cancel request leaving the client to the cancelled
status reaching a subscriber (a ``watch`` stream in another thread).

Scenarios: 256 running I/O-bound jobs that check every ~1 ms of work (each
cancelled job is replaced, so 256 stay running); one I/O-bound job that checks
every 1 ms; one CPU-bound job with ~1 ms of computation between checks. Beside
them, concurrent.futures and pebble, which cannot stop a running task at a
checkpoint.

The subscriber runs in its own process (as a UI or another service would), so
the bench's own threads do not sit in the measured path.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
import time
from typing import Any

from worker import Client

from ._common import ADMIN, USER, Progress, daemon, patiently, summary

IO_JOB = {"iterations": 10**9, "checkEvery": 1, "sleepMs": 1}
IO_JOB_10 = {"iterations": 10**9, "checkEvery": 1, "sleepMs": 10}
CPU_JOB = {"iterations": 10**9, "checkEvery": 1000, "sleepMs": 0}  # ~1 ms of CPU between checks


def _subscriber(socket_path: str, token: str, conn: Any) -> None:
    """A subscriber in its own process, as a real one would be: it notes the moment
    each job's cancelled status arrives, on the shared monotonic clock."""
    client = Client(socket_path, token, timeout=600)
    stream = client.stream("watch")
    conn.send(("", "ready", 0.0))
    for doc in stream:
        now = time.perf_counter()
        if doc["state"] == "cancelled":
            conn.send((doc["jobId"], "cancelled", now))
        elif doc["state"] == "running" and doc["status"].get("processed"):
            conn.send((doc["jobId"], "running", now))


class _Watcher:
    """Runs :func:`_subscriber` in a child process and hands its notes to the bench."""

    def __init__(self, d: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_subscriber, args=(str(d.socket), d.token(USER), child), daemon=True
        )
        self._proc.start()
        child.close()
        self._cv = threading.Condition()
        self.arrived: dict[str, float] = {}
        self.running: set[str] = set()
        _, kind, _ = self._conn.recv()
        assert kind == "ready"
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while True:
            try:
                job, kind, at = self._conn.recv()
            except (EOFError, OSError):
                return
            with self._cv:
                if kind == "cancelled":
                    self.arrived[job] = at
                else:
                    self.running.add(job)
                self._cv.notify_all()

    def wait_cancelled(self, job: str, timeout: float = 120) -> float:
        with self._cv:
            if not self._cv.wait_for(lambda: job in self.arrived, timeout):
                raise RuntimeError(f"no cancelled status for {job} within {timeout}s")
            return self.arrived[job]

    def wait_running(self, job: str, timeout: float = 120) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: job in self.running, timeout):
                raise RuntimeError(f"{job} did not start within {timeout}s")

    def close(self) -> None:
        self._proc.kill()
        self._proc.join(10)
        self._conn.close()


def _one_job(
    c: Client, w: _Watcher, payload: dict[str, Any], n: int, progress: Progress, label: str
) -> list[float]:
    out = []
    for i in range(n):
        if i % 20 == 0:
            progress("latency", f"{label}: {i}/{n}")
        job = c.submit("diag.spin", payload)["jobId"]
        w.wait_running(job)
        t0 = time.perf_counter()
        c.cancel(job)
        out.append((w.wait_cancelled(job) - t0) * 1000)
    return out


def _sleep_cost() -> float:
    """CPU microseconds one 1 ms sleep costs this machine (timer, two context switches)."""
    t0 = time.thread_time()
    for _ in range(500):
        time.sleep(0.001)
    return (time.thread_time() - t0) / 500 * 1e6


def _many_jobs(
    d: Any, n_running: int, n_cancels: int, progress: Progress, payload: dict[str, Any] = IO_JOB
) -> list[float]:
    with d.client(USER) as c, d.client(ADMIN, role="admin") as admin:
        w = _Watcher(d)
        try:
            jobs = c.submit("diag.spin", payload, count=n_running)["jobIds"]
            assert patiently(lambda: admin.call("stats")["busy"] == n_running)
            for j in jobs:
                w.wait_running(j)
            out = []
            for i in range(n_cancels):
                if i % 20 == 0:
                    progress("latency", f"{n_running} running: {i}/{n_cancels}")
                job = jobs[i % len(jobs)]
                t0 = time.perf_counter()
                c.cancel(job)
                out.append((w.wait_cancelled(job) - t0) * 1000)
                jobs[i % len(jobs)] = c.submit("diag.spin", payload)["jobId"]  # keep them running
            for j in jobs:
                c.cancel(j)
            return out
        finally:
            w.close()


def _sleeper(seconds: float) -> float:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.001)
    return seconds


def _peers(progress: Progress) -> dict[str, Any]:
    progress("latency", "concurrent.futures and pebble")
    out: dict[str, Any] = {}
    with cf.ProcessPoolExecutor(2) as ex:
        # The executor moves max_workers + 1 calls to its workers' queue at once and
        # counts them as running; the sixth is surely still pending.
        futures = [ex.submit(_sleeper, 0.5) for _ in range(6)]
        running, queued = futures[0], futures[-1]
        while not running.running():
            time.sleep(0.001)
        t0 = time.perf_counter()
        q_ok = queued.cancel()
        q_ms = (time.perf_counter() - t0) * 1000
        r_ok = running.cancel()
        out["concurrent.futures"] = {
            "queuedCancel": q_ok,
            "queuedCancelMs": q_ms,
            "runningCancel": r_ok,
            "note": "cancel() of a running future returns False; the task runs to its end",
        }
        for f in futures:
            if not f.cancelled():
                f.result()
    try:
        import pebble
    except ImportError:
        out["pebble"] = {"skipped": "pebble is not installed"}
        return out
    with pebble.ProcessPool(max_workers=2) as pool:
        fut = pool.schedule(_sleeper, args=(5.0,))
        while not fut.running():
            time.sleep(0.001)
        time.sleep(0.05)
        pids_before = {p.pid for p in _pool_children()}
        t0 = time.perf_counter()
        ok = fut.cancel()
        cancelled_ms = (time.perf_counter() - t0) * 1000
        gone = None
        for _ in range(5000):
            if not pids_before <= {p.pid for p in _pool_children()}:
                gone = (time.perf_counter() - t0) * 1000
                break
            time.sleep(0.001)
        out["pebble"] = {
            "runningCancel": ok,
            "cancelReturnsMs": cancelled_ms,
            "workerGoneMs": gone,
            "note": "a running task is stopped by terminating its worker process: no checkpoint, "
            "no partial result, no report of how far it got",
        }
        pool.stop()
        pool.join()
    return out


def _pool_children() -> list[Any]:
    import psutil

    return psutil.Process().children()


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    n_cancels = 60 if quick else 256
    n_single = 50 if quick else 200
    out: dict[str, Any] = {}
    out["cpuMicrosecondsPerMillisecondSleep"] = _sleep_cost()
    with daemon(threads=128) as d:
        out["256 running I/O jobs, check every ~1 ms"] = summary(
            _many_jobs(d, 256, n_cancels, progress), raw=True
        )
    with daemon(threads=128) as d:
        out["256 running I/O jobs, check every ~10 ms"] = summary(
            _many_jobs(d, 256, n_cancels, progress, IO_JOB_10), raw=True
        )
    with daemon(threads=32) as d, d.client(USER) as c:
        w = _Watcher(d)
        try:
            out["1 I/O job, check every 1 ms"] = summary(
                _one_job(c, w, IO_JOB, n_single, progress, "1 I/O job"), raw=True
            )
            out["1 CPU job, ~1 ms of work between checks"] = summary(
                _one_job(c, w, CPU_JOB, n_single, progress, "1 CPU job"), raw=True
            )
        finally:
            w.close()
    out["peers"] = _peers(progress)
    return out
