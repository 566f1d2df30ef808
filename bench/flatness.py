"""2. Flatness: the check from inside real jobs, with 1 to 512 of them running at
once over the pool's processes and threads, beside the Lock+dict registry.

Each job is a ``diag.checkcost``: it waits until the whole batch has started,
then times the same loop empty, with ``ctx.cancelled``, with ``ctx.check()``
and with a lookup in its process's Lock+dict registry (one entry per job of
that process), in thread CPU time. The figure per level is the median over jobs.
"""

from __future__ import annotations

import statistics
from typing import Any

from ._common import ADMIN, USER, Progress, daemon, patiently

LEVELS = (1, 16, 64, 256, 512)


def _level(c: Any, admin: Any, n: int, rounds: int, loops: int) -> dict[str, Any]:
    # The start delay lets every job of the batch be dispatched before any measures.
    payload = {"rounds": rounds, "loops": loops, "sleepMs": 1, "startDelayMs": 300 + 4 * n}
    ids = c.submit("diag.checkcost", payload, count=n)["jobIds"]
    all_running = patiently(lambda: admin.call("stats")["busy"] == n or _ended(c, ids[0]))
    docs = [c.wait(j, timeout=600) for j in ids]
    bad = [doc for doc in docs if doc["state"] != "completed"]
    if bad:
        raise RuntimeError(f"checkcost jobs failed: {bad[0]}")
    res = [doc["status"]["result"] for doc in docs]
    level: dict[str, Any] = {
        key: statistics.median(r[key] for r in res)
        for key in ("emptyNs", "ctxNs", "checkNs", "registryNs")
    }
    level["jobs"] = n
    level["allRunningAtOnce"] = all_running
    return level


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    rounds, loops = (5, 10_000) if quick else (9, 20_000)
    out: dict[str, Any] = {
        "levels": {},
        "method": "thread CPU time, median over jobs of each job's median",
    }
    with (
        daemon(threads=256, progress_interval_ms=60_000) as d,
        d.client(USER) as c,
        d.client(ADMIN, role="admin") as admin,
    ):
        for n in LEVELS:
            progress("flatness", f"{n} concurrent jobs")
            out["levels"][str(n)] = _level(c, admin, n, rounds, loops)
    lv = out["levels"]
    out["ctx512over1"] = lv["512"]["ctxNs"] / lv["1"]["ctxNs"]
    out["registryOverCtxAt256"] = lv["256"]["registryNs"] / lv["256"]["ctxNs"]
    return out


def _ended(c: Any, job: str) -> bool:
    return bool(c.status(job)["state"] in ("completed", "failed", "cancelled"))
