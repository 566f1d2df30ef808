"""``diag.spin``: N iterations of ~1 µs of CPU each, a check every K, optional sleep.

For tests and benchmarks; registered only where ``diag_jobs`` is on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._api import CancelShape, Category, ProcessorSpec
from ._context import JobContext
from ._schemas import ImportCompleted
from ._statuses import doc


class SpinPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(ge=0, le=10**10)
    checkEvery: int = Field(default=50, ge=1, le=10**9)  # noqa: N815 - wire name
    sleepMs: float = Field(default=0, ge=0, le=60_000)  # noqa: N815 - wire name


def spin_unit() -> int:
    """About a microsecond of pure-Python CPU work."""
    x = 1
    for _ in range(18):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


def run_spin(ctx: JobContext, p: SpinPayload) -> dict[str, Any]:
    total = p.iterations
    every = p.checkEvery
    sleep_s = p.sleepMs / 1000.0
    done = 0
    ctx.progress(0, total)
    while done < total:
        ctx.check()
        n = min(every, total - done)
        for _ in range(n):
            spin_unit()
            if sleep_s:
                ctx.sleep(sleep_s)
        done += n
        ctx.progress(done, total)
    return doc(ImportCompleted(type="completed", total=total, succeeded=total, failed=0, errors=[]))


def _cpu_bound(p: SpinPayload) -> bool:
    return p.sleepMs == 0


SPIN = ProcessorSpec(
    name="diag.spin",
    category=Category.LOOP,
    run=run_spin,
    payload_model=SpinPayload,
    check_every=50,
    cpu_bound=_cpu_bound,
    rerun_safe=True,
    completed_model=ImportCompleted,
    description="N iterations of ~1 us CPU work, a check every K, S ms of sleep each",
)


class AtomicPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sleepMs: float = Field(default=0, ge=0, le=600_000)  # noqa: N815 - wire name


def run_atomic(ctx: JobContext, p: AtomicPayload) -> dict[str, Any]:
    """One uninterruptible step, like sending an e-mail: it ignores cancellation."""
    import time

    time.sleep(p.sleepMs / 1000.0)
    return {"type": "completed", "result": {"sleptMs": p.sleepMs}}


ATOMIC = ProcessorSpec(
    name="diag.atomic",
    category=Category.ATOMIC,
    run=run_atomic,
    payload_model=AtomicPayload,
    rerun_safe=False,
    description="sleeps S ms without a checkpoint (an atomic job)",
)


CrashHow = Literal["exception", "exit", "abort", "segfault", "sigkill", "base_exception"]


class CrashPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    how: CrashHow
    afterMs: float = Field(default=0, ge=0, le=600_000)  # noqa: N815 - wire name


def run_crash(ctx: JobContext, p: CrashPayload) -> dict[str, Any]:
    """Fails in the way asked: the crash matrix of the tests."""
    import ctypes
    import os
    import signal
    import sys

    ctx.progress(1, 2)
    if p.afterMs:
        ctx.sleep(p.afterMs / 1000.0)
    ctx.check()
    if p.how == "exception":
        raise RuntimeError("diag.crash asked for an exception")
    if p.how == "base_exception":
        raise KeyboardInterrupt
    if p.how == "exit":
        sys.exit(3)
    if p.how == "abort":
        os.abort()
    if p.how == "segfault":
        ctypes.string_at(0)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


CRASH = ProcessorSpec(
    name="diag.crash",
    category=Category.LOOP,
    run=run_crash,
    payload_model=CrashPayload,
    rerun_safe=False,
    description="raises, exits or kills its own worker process, as asked",
)


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(max_length=100)
    percent: int = Field(ge=0, le=100)
    sleepMs: float = Field(default=0, ge=0, le=600_000)  # noqa: N815 - wire name


class PhasesPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phases: list[Phase] = Field(max_length=100)


def run_phases(ctx: JobContext, p: PhasesPayload) -> dict[str, Any]:
    """Reports each phase, then works through it (a sleep); checks between phases."""
    for phase in p.phases:
        ctx.check()
        ctx.phase(phase.key, phase.percent)
        ctx.sleep(phase.sleepMs / 1000.0)
    ctx.check()
    return {"type": "completed", "result": {"phases": len(p.phases)}}


PHASES = ProcessorSpec(
    name="diag.phases",
    category=Category.PHASES,
    run=run_phases,
    payload_model=PhasesPayload,
    rerun_safe=True,
    cancel_shape=CancelShape.MESSAGE,
    description="goes through the given phases, checking between them",
)
