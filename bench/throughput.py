"""4. Dispatch throughput: no-op jobs per second through the real supervisor
(journal and all), beside ProcessPoolExecutor and multiprocess.Pool with the
same number of processes.

The no-op job is ``diag.spin`` with no iterations; ``sleepMs`` > 0 marks it
I/O-bound (it never sleeps), so all of a process's slots take such jobs, as
they would take any short I/O-bound job.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from typing import Any

import multiprocess

from ._common import ADMIN, USER, Progress, daemon, patiently

NOOP = {"iterations": 0, "sleepMs": 0.001}
BATCH = 1000


def noop(x: int) -> int:
    return x


def _sazinka(n: int, sync: str, progress: Progress) -> dict[str, Any]:
    with (
        daemon(threads=32, journal_sync=sync) as d,
        d.client(USER) as c,
        d.client(ADMIN, role="admin") as admin,
    ):
        warm = c.submit("diag.spin", NOOP, count=200)["jobIds"]
        c.wait(warm[-1], timeout=600)
        assert patiently(lambda: admin.call("stats")["busy"] == 0)
        t0 = time.perf_counter()
        last = ""
        for i in range(n // BATCH):
            if i % 10 == 0:
                progress("throughput", f"sazinka ({sync}): {i * BATCH}/{n} submitted")
            last = c.submit("diag.spin", NOOP, count=BATCH)["jobIds"][-1]
        submitted = time.perf_counter()
        c.wait(last, timeout=600)
        assert patiently(lambda: _idle(admin.call("stats")))
        elapsed = time.perf_counter() - t0
        total = c.call("history", limit=1)["total"]
    if total != n + 200:
        raise RuntimeError(f"expected {n + 200} finished jobs, history has {total}")
    return {
        "jobs": n,
        "seconds": elapsed,
        "jobsPerSecond": n / elapsed,
        "submitPerSecond": n / (submitted - t0),
    }


def _idle(stats: dict[str, Any]) -> bool:
    return stats["busy"] == 0 and stats["queued"] == 0


def _ppe(n: int, procs: int) -> dict[str, Any]:
    with cf.ProcessPoolExecutor(procs) as ex:
        list(ex.map(noop, range(200)))
        t0 = time.perf_counter()
        futures = [ex.submit(noop, i) for i in range(n)]
        for f in futures:
            f.result()
        elapsed = time.perf_counter() - t0
    return {"jobs": n, "seconds": elapsed, "jobsPerSecond": n / elapsed}


def _mp_pool(n: int, procs: int) -> dict[str, Any]:
    with multiprocess.Pool(procs) as pool:
        pool.map(noop, range(200))
        t0 = time.perf_counter()
        results = [pool.apply_async(noop, (i,)) for i in range(n)]
        for r in results:
            r.get()
        elapsed = time.perf_counter() - t0
    return {"jobs": n, "seconds": elapsed, "jobsPerSecond": n / elapsed}


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    n = 10_000 if quick else 50_000
    out: dict[str, Any] = {"processes": 2}
    progress("throughput", "ProcessPoolExecutor")
    out["ProcessPoolExecutor"] = _ppe(n, 2)
    progress("throughput", "multiprocess.Pool")
    out["multiprocess.Pool"] = _mp_pool(n, 2)
    out["sazinka (journal_sync=normal)"] = _sazinka(n, "normal", progress)
    if not quick:
        out["sazinka (journal_sync=full)"] = _sazinka(n, "full", progress)
    ppe = out["ProcessPoolExecutor"]["jobsPerSecond"]
    out["ratioToPPE"] = out["sazinka (journal_sync=normal)"]["jobsPerSecond"] / ppe
    return out
