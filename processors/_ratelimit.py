"""A request rate shared by every process and thread of this host (e.g. Nominatim's
one request per second): each caller reserves the next free slot in a small file
under an exclusive lock, then sleeps until it, cancellably if it wants."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path


class RateLimiter:
    def __init__(self, path: Path, interval_s: float) -> None:
        self.path = path
        self.interval_s = interval_s

    def reserve(self) -> float:
        """Seconds to wait before the reserved request may go out."""
        if self.interval_s <= 0:
            return 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 64)
            try:
                last = float(raw) if raw else 0.0
            except ValueError:
                last = 0.0
            now = time.time()
            slot = max(now, last + self.interval_s)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, repr(slot).encode())
        finally:
            os.close(fd)  # releases the lock
        return slot - now

    def wait(self, sleep: Callable[[float], object] = time.sleep) -> None:
        delay = self.reserve()
        if delay > 0:
            sleep(delay)
