"""What every suite shares: a progress line, statistics, daemons, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from worker import LocalDaemon

USER = "be4c0000-0000-4000-8000-000000000001"
ADMIN = "be4c0000-0000-4000-8000-0000000000ad"


class Progress:
    """One line on stderr, rewritten in place."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._tty = sys.stderr.isatty()

    def __call__(self, suite: str, what: str) -> None:
        line = f"[{time.monotonic() - self._start:6.1f}s] {suite}: {what}"
        if self._tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def percentile(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: Sequence[float], *, raw: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }
    if raw:
        out["samples"] = list(values)
    return out


@contextlib.contextmanager
def daemon(**settings: Any) -> Iterator[LocalDaemon]:
    """A supervisor on a throw-away state directory, stopped (SIGTERM) afterwards."""
    d = Path(tempfile.mkdtemp(prefix="szb-", dir="/tmp"))
    defaults: dict[str, Any] = {"processes": 2, "diag_jobs": True, "log_level": "WARNING"}
    ld = LocalDaemon(d, patience_s=600, **{**defaults, **settings})
    try:
        ld.start()
        yield ld
    finally:
        if ld.running:
            ld.stop()
        shutil.rmtree(d, ignore_errors=True)


def patiently(condition: Callable[[], bool], rounds: int = 1_000_000) -> bool:
    """Round trips to the daemon until ``condition`` holds; never a sleep."""
    return any(condition() for _ in range(rounds))


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in (
        "sazinka-worker",
        "msgpack",
        "pydantic",
        "pyjwt",
        "psutil",
        "multiprocess",
        "pebble",
        "redis",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "memoryBytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "versions": versions,
        "redisServer": shutil.which("redis-server"),
    }
