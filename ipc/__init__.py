"""The wire and the shared memory of sazinka-worker.

This package imports nothing from ``worker`` or ``processors``.
"""

from ._codec import DEFAULT_MAX_BYTES, Limits, pack, unpack
from ._errors import (
    ConnectionClosed,
    EmptyFrame,
    FrameError,
    FrameTimeout,
    FrameTooLarge,
    IpcError,
    MalformedFrame,
    SegmentError,
    TruncatedFrame,
)
from ._flags import HEADER_SIZE, SLOT_SIZE, CancelReason, FlagTable, SlotStruct, is_stale
from ._frames import (
    FrameDecoder,
    check_length,
    encode_frame,
    read_frame,
    read_frame_async,
    write_frame,
)
from ._shm import PREFIX as SEGMENT_PREFIX
from ._shm import Segment, list_segments, sweep_stale

__all__ = [
    "DEFAULT_MAX_BYTES",
    "HEADER_SIZE",
    "SEGMENT_PREFIX",
    "SLOT_SIZE",
    "CancelReason",
    "ConnectionClosed",
    "EmptyFrame",
    "FlagTable",
    "FrameDecoder",
    "FrameError",
    "FrameTimeout",
    "FrameTooLarge",
    "IpcError",
    "Limits",
    "MalformedFrame",
    "Segment",
    "SegmentError",
    "SlotStruct",
    "TruncatedFrame",
    "check_length",
    "encode_frame",
    "is_stale",
    "list_segments",
    "pack",
    "read_frame",
    "read_frame_async",
    "sweep_stale",
    "unpack",
    "write_frame",
]
