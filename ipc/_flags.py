"""The flag table: one shared-memory segment, one fixed-size record per job slot.

Layout (native byte order)::

    offset 0   header, 64 bytes
               magic "SAZKFLG1" | version u32 | slot size u32 | slots u32
               | owner pid u32 | owner start time f64
    offset 64  slot 0, 32 bytes
               cancelled u8 | pad[3] | generation u32 | seq u64 | processed u64 | total u64
    offset 96  slot 1 ...

Who writes what:

* ``cancelled`` and ``generation``: only the supervisor (:meth:`FlagTable.arm`,
  :meth:`FlagTable.request_cancel`).
* ``seq``, ``processed``, ``total``: only the job running in the slot, through
  :meth:`SlotStruct.write_progress`. ``seq`` is a seqlock: odd while a write is
  in progress, and it moves on every write, so the supervisor can tell whether
  progress changed without comparing the counters.

The hot path is ``slot.cancelled``: a ctypes field, i.e. one C-level load of a
byte in the mapping. No lock, no system call, no message.
"""

from __future__ import annotations

import ctypes
import enum
import os
import struct
import time
from typing import TYPE_CHECKING, Any, TypeVar

import psutil

from ._errors import SegmentError
from ._futex import wait as futex_wait
from ._futex import wake as futex_wake
from ._shm import Segment, owner_pid

_MAGIC = b"SAZKFLG1"
_VERSION = 1
_HEADER = struct.Struct("=8sIIIId")
HEADER_SIZE = 64


class CancelReason(enum.IntEnum):
    """Values of a slot's cancel byte. Any non-zero value means "stop"."""

    NONE = 0
    REQUESTED = 1  # the owner (or an admin) cancelled the job
    SHUTDOWN = 2  # the supervisor is stopping: an interruption, not a cancellation


class SlotStruct(ctypes.Structure):
    """One slot, mapped in place over the shared memory."""

    _fields_ = [
        ("cancelled", ctypes.c_uint8),
        ("_pad", ctypes.c_uint8 * 3),
        ("generation", ctypes.c_uint32),
        ("seq", ctypes.c_uint64),
        ("processed", ctypes.c_uint64),
        ("total", ctypes.c_uint64),
    ]
    __slots__ = ()

    if TYPE_CHECKING:  # what the ctypes fields read as
        cancelled: int
        generation: int
        seq: int
        processed: int
        total: int

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once when the flag goes up (the
        supervisor wakes sleepers on the slot's cancel word). Returns whether the
        flag is up."""
        if self.cancelled or seconds <= 0:
            return bool(self.cancelled)
        deadline = time.monotonic() + seconds
        address = ctypes.addressof(self)
        while not self.cancelled:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            futex_wait(address, 0, left)
        return bool(self.cancelled)

    def write_progress(self, processed: int, total: int) -> None:
        """Publish progress. Called only by the job that owns the slot."""
        seq = self.seq + 1
        self.seq = seq  # odd: a write is in progress
        self.processed = processed
        self.total = total
        self.seq = seq + 1


SLOT_SIZE = ctypes.sizeof(SlotStruct)
_FIELDS: dict[str, Any] = {f[0]: getattr(SlotStruct, f[0]) for f in SlotStruct._fields_}
_OFF_GEN: int = _FIELDS["generation"].offset
_OFF_SEQ: int = _FIELDS["seq"].offset
_PROGRESS = struct.Struct("=QQQ")  # seq, processed, total
_U32 = struct.Struct("=I")
_ZERO_SLOT = bytes(SLOT_SIZE)

S = TypeVar("S", bound=SlotStruct)


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class FlagTable:
    """The supervisor creates the table; workers attach to it by name."""

    __slots__ = ("_base", "_buf", "_segment", "n_slots", "name")

    def __init__(self, segment: Segment, n_slots: int) -> None:
        self._segment = segment
        self._buf = segment.buf
        self.name = segment.name
        self.n_slots = n_slots
        # The mapping's address, to wake futex sleepers (holds a view; dropped on close).
        self._base: ctypes.c_char | None = ctypes.c_char.from_buffer(self._buf)

    # -- life cycle ---------------------------------------------------------

    @classmethod
    def create(cls, n_slots: int) -> FlagTable:
        if n_slots <= 0:
            raise ValueError("a flag table needs at least one slot")
        seg = Segment.create(HEADER_SIZE + n_slots * SLOT_SIZE)
        pid = os.getpid()
        _HEADER.pack_into(
            seg.buf, 0, _MAGIC, _VERSION, SLOT_SIZE, n_slots, pid, _start_time(pid) or 0.0
        )
        return cls(seg, n_slots)

    @classmethod
    def attach(cls, name: str) -> FlagTable:
        seg = Segment.attach(name)
        try:
            magic, version, slot_size, n_slots, _pid, _t = _read_header(seg)
            if magic != _MAGIC or version != _VERSION or slot_size != SLOT_SIZE:
                raise SegmentError(f"{name} is not a version {_VERSION} flag table")
            if seg.size < HEADER_SIZE + n_slots * SLOT_SIZE:
                raise SegmentError(f"{name} is smaller than its header says")
        except BaseException:
            seg.close()
            raise
        return cls(seg, n_slots)

    def close(self) -> bool:
        self._base = None
        return self._segment.close()

    def unlink(self) -> None:
        self._segment.unlink()

    @property
    def is_owner(self) -> bool:
        return self._segment.owner

    def offset(self, slot: int) -> int:
        if not 0 <= slot < self.n_slots:
            raise IndexError(f"slot {slot} out of range 0..{self.n_slots - 1}")
        return HEADER_SIZE + slot * SLOT_SIZE

    # -- supervisor side ------------------------------------------------------

    def arm(self, slot: int) -> int:
        """Make ``slot`` ready for a new job: flag clear, progress zero. Returns its generation."""
        off = self.offset(slot)
        gen: int = (_U32.unpack_from(self._buf, off + _OFF_GEN)[0] + 1) & 0xFFFFFFFF
        self._buf[off : off + SLOT_SIZE] = _ZERO_SLOT
        _U32.pack_into(self._buf, off + _OFF_GEN, gen)
        return gen

    def request_cancel(self, slot: int, reason: CancelReason) -> CancelReason:
        """Raise the slot's flag and wake the job if it sleeps in ``ctx.sleep``.
        A user's cancel is never downgraded to a shutdown."""
        off = self.offset(slot)
        current = CancelReason(self._buf[off])
        if current is CancelReason.REQUESTED:
            return current
        self._buf[off] = int(reason)
        if self._base is not None:
            futex_wake(ctypes.addressof(self._base) + off)
        return reason

    def cancel_reason(self, slot: int) -> CancelReason:
        return CancelReason(self._buf[self.offset(slot)])

    def generation(self, slot: int) -> int:
        return int(_U32.unpack_from(self._buf, self.offset(slot) + _OFF_GEN)[0])

    def sample(self, slot: int) -> tuple[int, int, int]:
        """``(seq, processed, total)``, read consistently under the seqlock."""
        off = self.offset(slot) + _OFF_SEQ
        buf = self._buf
        seq = processed = total = 0
        for _ in range(100):
            seq, processed, total = _PROGRESS.unpack_from(buf, off)
            if not seq & 1 and _PROGRESS.unpack_from(buf, off)[0] == seq:
                return seq, processed, total
        return seq & ~1, processed, total  # a writer stuck mid-write: best effort

    # -- worker side ----------------------------------------------------------

    def view(self, slot: int, cls: type[S]) -> S:
        """Map ``cls`` (a :class:`SlotStruct` subclass) over ``slot``, in place."""
        return cls.from_buffer(self._buf, self.offset(slot))

    @property
    def raw(self) -> memoryview:
        """The whole mapping, for benchmarks of the bare byte read."""
        return self._buf


def _read_header(seg: Segment) -> tuple[bytes, int, int, int, int, float]:
    if seg.size < HEADER_SIZE:
        raise SegmentError(f"{seg.name} is too small for a header")
    magic, version, slot_size, n_slots, pid, t = _HEADER.unpack_from(seg.buf, 0)
    return magic, version, slot_size, n_slots, pid, t


def is_stale(name: str) -> bool:
    """A segment is stale when the supervisor that created it is gone.

    The pid is in the name; the start time in the header guards against a
    recycled pid.
    """
    pid = owner_pid(name)
    if pid is None:
        return False
    started = _start_time(pid)
    if started is None:
        return True
    try:
        seg = Segment.attach(name)
    except SegmentError:
        return False
    try:
        magic, _v, _s, _n, hdr_pid, hdr_start = _read_header(seg)
    except SegmentError:
        return False
    finally:
        seg.close()
    if magic != _MAGIC or hdr_pid != pid or not hdr_start:
        return False
    return abs(hdr_start - started) > 0.5
