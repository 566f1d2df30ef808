"""Sleeping on a word of the shared memory, and waking the sleepers (Linux futex).

A job that sleeps in ``ctx.sleep`` waits on its slot's cancel word; the
supervisor, after raising the flag, wakes it directly: no message, no helper
thread, one system call on each side. Where futexes are not available the
sleep polls the flag every millisecond instead.
"""

from __future__ import annotations

import ctypes
import os
import platform
import time
from typing import Any

_SYSCALL_NUMBERS = {"x86_64": 202, "aarch64": 98, "riscv64": 98, "i686": 240, "armv7l": 240}
_FUTEX_WAIT = 0
_FUTEX_WAKE = 1
_POLL_S = 0.001


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _load() -> Any:
    number = _SYSCALL_NUMBERS.get(platform.machine())
    if os.name != "posix" or platform.system() != "Linux" or number is None:
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syscall  # a foreign call: the GIL is released
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_long
    fn.argtypes = [
        ctypes.c_long,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(_Timespec),
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    return fn


_syscall = _load()
_SYS_FUTEX = _SYSCALL_NUMBERS.get(platform.machine(), 0)


def available() -> bool:
    return _syscall is not None


def wait(address: int, expected: int, seconds: float) -> None:
    """Sleep up to ``seconds`` while the 32-bit word at ``address`` equals ``expected``.

    May return early (a wake, a signal); callers re-check their condition.
    """
    if seconds <= 0:
        return
    if _syscall is None:
        time.sleep(min(seconds, _POLL_S))
        return
    whole = int(seconds)
    ts = _Timespec(whole, int((seconds - whole) * 1e9))
    _syscall(_SYS_FUTEX, address, _FUTEX_WAIT, expected, ctypes.byref(ts), None, 0)


def wake(address: int) -> None:
    """Wake every sleeper on the word at ``address``."""
    if _syscall is not None:
        _syscall(_SYS_FUTEX, address, _FUTEX_WAKE, 2**31 - 1, None, None, 0)
