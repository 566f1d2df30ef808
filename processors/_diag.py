"""``diag.spin``: N iterations of ~1 µs of CPU each, a check every K, optional sleep.

For tests and benchmarks; registered only where ``diag_jobs`` is on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._api import Category, ProcessorSpec
from ._context import JobContext
from ._statuses import ImportCompleted


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
    return ImportCompleted(total=total, succeeded=total, failed=0).doc()


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
    description="N iterations of ~1 us CPU work, a check every K, S ms of sleep each",
)
