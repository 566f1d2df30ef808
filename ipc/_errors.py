"""Errors raised by the wire and the shared memory. One hierarchy, rooted at IpcError."""

from __future__ import annotations


class IpcError(Exception):
    """Base of every error raised by :mod:`ipc`."""


class ConnectionClosed(IpcError):
    """The peer closed the stream cleanly, between two frames."""


class FrameError(IpcError):
    """A frame that cannot be accepted. The stream is unusable afterwards."""


class EmptyFrame(FrameError):
    """A frame announced a zero-length body."""

    def __init__(self) -> None:
        super().__init__("frame length is zero")


class FrameTooLarge(FrameError):
    """A frame announced more bytes than the limit; its body is never read."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit} bytes")
        self.length = length
        self.limit = limit


class MalformedFrame(FrameError):
    """The body is not one acceptable msgpack object."""


class TruncatedFrame(FrameError):
    """The stream ended inside a frame."""


class FrameTimeout(FrameError):
    """A frame did not arrive in time."""


class SegmentError(IpcError):
    """A shared-memory segment could not be created, attached or read."""
