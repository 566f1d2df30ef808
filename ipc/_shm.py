"""POSIX shared-memory segments named ``sazinka-<pid>-<random>``.

This wraps ``shm_open`` + ``mmap`` directly instead of
``multiprocessing.shared_memory``: on Python < 3.13 every process that attaches
through that module registers the segment with its resource tracker, which then
unlinks the segment (and warns) when *that* process exits. Here only the
creator unlinks, and segments left by a creator that died are found by the pid
in their name and removed by :func:`sweep_stale`.
"""

from __future__ import annotations

import _posixshmem
import contextlib
import mmap
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from ._errors import SegmentError

PREFIX = "sazinka-"
_SHM_DIR = Path("/dev/shm")
_NAME = re.compile(r"^sazinka-(\d+)-[0-9a-f]+$")


class Segment:
    """One mapped segment. The creator owns it and is the only one to unlink it."""

    __slots__ = ("_mmap", "buf", "name", "owner", "size")

    def __init__(self, name: str, mm: mmap.mmap, *, owner: bool) -> None:
        self.name = name
        self.size = len(mm)
        self.owner = owner
        self._mmap = mm
        self.buf = memoryview(mm)

    @classmethod
    def create(cls, size: int) -> Segment:
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        except OSError as exc:
            raise SegmentError(f"cannot create shared memory {name}: {exc}") from exc
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
        except OSError as exc:
            _posixshmem.shm_unlink("/" + name)
            raise SegmentError(f"cannot size shared memory {name}: {exc}") from exc
        finally:
            os.close(fd)
        return cls(name, mm, owner=True)

    @classmethod
    def attach(cls, name: str) -> Segment:
        if not name.startswith(PREFIX) or "/" in name:
            raise SegmentError(f"not a sazinka segment name: {name!r}")
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
        except OSError as exc:
            raise SegmentError(f"cannot attach shared memory {name}: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise SegmentError(f"shared memory {name} is empty")
            mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return cls(name, mm, owner=False)

    def close(self) -> bool:
        """Unmap, unless views into the buffer are still alive (a processor kept its
        context, a traceback holds one). Then the mapping stays until the process
        exits, which is harmless: returns whether it was unmapped."""
        try:
            self.buf.release()
            self._mmap.close()
        except BufferError:
            return False
        return True

    def unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            _posixshmem.shm_unlink("/" + self.name)


def owner_pid(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def list_segments() -> list[str]:
    """Names of every sazinka segment on this host (Linux: /dev/shm)."""
    try:
        return sorted(p.name for p in _SHM_DIR.iterdir() if p.name.startswith(PREFIX))
    except FileNotFoundError:
        return []


def sweep_stale(is_stale: Callable[[str], bool]) -> list[str]:
    """Unlink every segment for which ``is_stale(name)`` holds; return their names."""
    removed = []
    for name in list_segments():
        if is_stale(name):
            try:
                _posixshmem.shm_unlink("/" + name)
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed
