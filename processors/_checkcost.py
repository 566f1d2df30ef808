"""``diag.checkcost``: measures the cost of a cancellation check from inside a
real job, next to the seed's design done in Python (a Lock-guarded dict of
jobs keyed by UUID, one per process).

Costs are thread CPU time (``time.thread_time_ns``), so time spent waiting for
the GIL while other jobs run is not counted: what is left is what the check
itself costs the job. Each round times the same loop three ways (empty, with
``ctx.cancelled``, with the registry lookup) and the per-check cost is the
difference from the empty loop, divided by the iterations.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._api import Category, ProcessorSpec
from ._context import JobContext


class LockRegistry:
    """The seed's ``Mutex<HashMap<Uuid, JobEntry>>``, in Python."""

    __slots__ = ("_jobs", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, threading.Event] = {}

    def register(self, job_id: str) -> None:
        with self._lock:
            self._jobs[job_id] = threading.Event()

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def is_cancelled(self, job_id: str) -> bool:
        with self._lock:
            entry = self._jobs.get(job_id)
            return entry is not None and entry.is_set()


_REGISTRY = LockRegistry()  # one per worker process, shared by its job threads


def loop_empty(n: int) -> None:
    """The same loop with a local in place of the check (the compiler would drop a
    constant ``if False``), so the differences below are the reads alone."""
    zero = 0
    for _ in range(n):
        if zero:
            break


def loop_ctx(n: int, ctx: Any) -> None:
    for _ in range(n):
        if ctx.cancelled:
            break


def loop_check(n: int, ctx: Any) -> None:
    for _ in range(n):
        ctx.check()


def loop_registry(n: int, reg: LockRegistry, job_id: str) -> None:
    for _ in range(n):
        if reg.is_cancelled(job_id):
            break


class CheckCostPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(default=7, ge=1, le=1000)
    loops: int = Field(default=20_000, ge=100, le=10_000_000)
    sleepMs: float = Field(default=1.0, ge=0, le=10_000)  # noqa: N815 - wire name
    startDelayMs: float = Field(default=0, ge=0, le=600_000)  # noqa: N815 - wire name


def _cpu(fn: Any, *args: Any) -> int:
    t0 = time.thread_time_ns()
    fn(*args)
    return time.thread_time_ns() - t0


def run_checkcost(ctx: JobContext, p: CheckCostPayload) -> dict[str, Any]:
    job_key = str(uuid.uuid4())
    _REGISTRY.register(job_key)
    try:
        ctx.sleep(p.startDelayMs / 1000.0)  # lets every job of a batch start first
        n = p.loops
        empty, with_ctx, with_check, with_reg = [], [], [], []
        for r in range(p.rounds):
            ctx.check()
            base = _cpu(loop_empty, n)
            empty.append(base / n)
            with_ctx.append((_cpu(loop_ctx, n, ctx) - base) / n)
            with_check.append((_cpu(loop_check, n, ctx) - base) / n)
            with_reg.append((_cpu(loop_registry, n, _REGISTRY, job_key) - base) / n)
            ctx.progress(r + 1, p.rounds)
            ctx.sleep(p.sleepMs / 1000.0)
    finally:
        _REGISTRY.remove(job_key)
    med = statistics.median
    return {
        "type": "completed",
        "result": {
            "emptyNs": med(empty),
            "ctxNs": med(with_ctx),
            "checkNs": med(with_check),
            "registryNs": med(with_reg),
        },
    }


CHECKCOST = ProcessorSpec(
    name="diag.checkcost",
    category=Category.LOOP,
    run=run_checkcost,
    payload_model=CheckCostPayload,
    rerun_safe=True,
    description="measures the cancellation check from inside a job (benchmarks)",
)
