"""1. The check: what one cancellation check costs a job, beside the alternatives.

Every mechanism is timed in the same loop shape; the per-check cost is the loop
with the check minus the same loop with a local variable in its place, divided
by the iterations. Thread CPU time; the median of interleaved repeats.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ipc import CancelReason, FlagTable
from processors import JobContext
from processors._checkcost import LockRegistry, loop_check, loop_ctx, loop_empty, loop_registry

from ._common import Progress


def loop_bare(n: int, mv: memoryview, off: int) -> None:
    for _ in range(n):
        if mv[off]:
            break


def loop_event(n: int, ev: Any) -> None:
    for _ in range(n):
        if ev.is_set():
            break


def loop_value(n: int, v: Any) -> None:
    for _ in range(n):
        if v.value:
            break


def loop_get(n: int, d: Any, key: str) -> None:
    for _ in range(n):
        if d.get(key):
            break


def _cpu(fn: Callable[..., None], *args: Any) -> int:
    t0 = time.thread_time_ns()
    fn(*args)
    return time.thread_time_ns() - t0


@contextlib.contextmanager
def _redis() -> Iterator[Any]:
    """A private redis-server on a Unix socket, or None where there is none."""
    exe = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if exe is None or redis is None:
        yield None
        return
    d = Path(tempfile.mkdtemp(prefix="szr-", dir="/tmp"))
    sock = d / "redis.sock"
    proc = subprocess.Popen(
        [exe, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        for _ in range(10_000):  # patience: until it answers
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.005)
        yield client
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def run(quick: bool, progress: Progress) -> dict[str, Any]:
    n_fast = 200_000 if quick else 1_000_000
    repeats = 5 if quick else 11
    table = FlagTable.create(512)
    table.arm(7)
    ctx = JobContext.bind(
        table, 7, job_id="bench", job_type="diag.checkcost", owner_id="b", state_dir=Path("/tmp")
    )
    mv, off = table.raw, table.offset(7)
    registry = LockRegistry()
    keys = [str(uuid.uuid4()) for _ in range(256)]
    for k in keys:
        registry.register(k)
    tev = threading.Event()
    mp = multiprocessing.get_context("spawn")
    mev = mp.Event()
    value = mp.Value("b", 0, lock=True)
    results: dict[str, Any] = {}
    try:
        fast: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {
            "bare shm read (floor)": (loop_bare, (mv, off)),
            "ctx.cancelled": (loop_ctx, (ctx,)),
            "ctx.check()": (loop_check, (ctx,)),
            "threading.Event.is_set": (loop_event, (tev,)),
            "multiprocessing.Event.is_set": (loop_event, (mev,)),
            "Value(lock=True).value": (loop_value, (value,)),
            "Lock+dict registry (seed)": (loop_registry, (registry, keys[100])),
        }
        samples: dict[str, list[float]] = {name: [] for name in fast}
        empties: list[float] = []
        for r in range(repeats):
            progress("check", f"round {r + 1}/{repeats}")
            for name, (fn, args) in fast.items():
                n = (
                    n_fast
                    if "multiprocessing" not in name and "Value" not in name
                    else n_fast // 10
                )
                base = _cpu(loop_empty, n)
                samples[name].append((_cpu(fn, n, *args) - base) / n)
                empties.append(base / n)
        for name, vals in samples.items():
            results[name] = {"ns": statistics.median(vals), "samples": vals}
        results["empty loop iteration"] = {"ns": statistics.median(empties)}
        # The slow ones: a round trip to another process per check.
        progress("check", "Manager().dict()")
        with mp.Manager() as manager:
            shared = manager.dict({k: False for k in keys})
            n = 2_000 if quick else 10_000
            vals = []
            for _ in range(3):
                t0 = time.perf_counter_ns()
                loop_get(n, shared, keys[100])
                vals.append((time.perf_counter_ns() - t0) / n)
            results["Manager().dict() lookup"] = {"ns": statistics.median(vals), "clock": "wall"}
        progress("check", "Redis GET")
        with _redis() as client:
            if client is None:
                results["Redis GET"] = {"ns": None, "skipped": "no redis-server or redis module"}
            else:
                client.set("job:bench:cancel", b"")
                n = 2_000 if quick else 10_000
                vals = []
                for _ in range(3):
                    t0 = time.perf_counter_ns()
                    loop_get(n, client, "job:bench:cancel")
                    vals.append((time.perf_counter_ns() - t0) / n)
                results["Redis GET"] = {"ns": statistics.median(vals), "clock": "wall"}
        # Sanity: the check really sees a raised flag.
        table.request_cancel(7, CancelReason.REQUESTED)
        assert ctx.cancelled
    finally:
        del ctx
        table.close()
        table.unlink()
    floor = results["bare shm read (floor)"]["ns"]
    for entry in results.values():
        if entry.get("ns") is not None and floor > 0:
            entry["xFloor"] = entry["ns"] / floor
    return results
