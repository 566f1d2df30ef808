"""5. Memory: bytes per slot in shared memory, supervisor RSS per queued job,
worker RSS per slot."""

from __future__ import annotations

from typing import Any

import psutil

from ipc import HEADER_SIZE, SLOT_SIZE

from ._common import ADMIN, USER, Progress, daemon, patiently

BLOCKER = {"iterations": 10**10, "checkEvery": 1000}  # CPU-bound: holds the only cpu slot


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def _queued_rss(n: int, progress: Progress) -> dict[str, Any]:
    with daemon(threads=4) as d, d.client(USER) as c, d.client(ADMIN, role="admin") as admin:
        blockers = [c.submit("diag.spin", BLOCKER)["jobId"] for _ in range(2)]
        assert patiently(lambda: admin.call("stats")["busy"] == 2)
        before = _rss(d.pid)
        for i in range(n // 1000):
            progress("memory", f"queueing {i * 1000}/{n}")
            c.submit("diag.spin", {"iterations": 1000}, count=1000)
        stats = admin.call("stats")
        after = _rss(d.pid)
        for b in blockers:
            c.cancel(b)
    return {
        "queued": stats["queued"],
        "rssBeforeBytes": before,
        "rssAfterBytes": after,
        "bytesPerQueuedJob": (after - before) / n,
    }


def _worker_rss(threads: int) -> float:
    with daemon(threads=threads) as d, d.client(ADMIN, role="admin") as admin:
        procs = admin.call("stats")["processes"]
        return sum(p["rssBytes"] for p in procs) / len(procs)


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    n = 10_000
    out: dict[str, Any] = {
        "slotBytes": SLOT_SIZE,
        "segmentBytesFor512Slots": HEADER_SIZE + 512 * SLOT_SIZE,
        "seedEstimateBytesPerEntry": 96,
    }
    out["supervisor"] = _queued_rss(n, progress)
    progress("memory", "worker RSS at 8 and 256 slots")
    small, big = _worker_rss(8), _worker_rss(256)
    out["worker"] = {
        "rssAt8SlotsBytes": small,
        "rssAt256SlotsBytes": big,
        "bytesPerSlot": (big - small) / (256 - 8),
    }
    return out
