"""Length-prefixed frames: a 4-byte big-endian length, then one msgpack body.

The length is checked before any of the body is read: zero and oversized
lengths are refused at the header. Three readers share that rule:

* :class:`FrameDecoder` for event loops (feed it whatever bytes arrived);
* :func:`read_frame` for blocking sockets, with a timeout per frame;
* :func:`read_frame_async` for ``asyncio.StreamReader``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from ._codec import Limits, pack, unpack
from ._errors import (
    ConnectionClosed,
    EmptyFrame,
    FrameTimeout,
    FrameTooLarge,
    MalformedFrame,
    TruncatedFrame,
)

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size
_MAX_WIRE = 2**32 - 1


def encode_frame(obj: Any) -> bytes:
    """Header plus body, ready for ``sendall``."""
    body = pack(obj)
    if len(body) > _MAX_WIRE:
        raise MalformedFrame(f"body of {len(body)} bytes cannot be framed")
    return _HEADER.pack(len(body)) + body


def check_length(length: int, limits: Limits) -> None:
    """Refuse a frame by its header alone."""
    if length == 0:
        raise EmptyFrame()
    if length > limits.max_bytes:
        raise FrameTooLarge(length, limits.max_bytes)


class FrameDecoder:
    """Incremental decoder: ``feed`` bytes, get back every complete object.

    After a :class:`FrameError` the stream cannot be resynchronised; drop the
    connection.
    """

    __slots__ = ("_buf", "_limits", "_need")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._buf = bytearray()
        self._need = 0  # body length of the frame in progress, 0 while reading a header

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        buf = self._buf
        buf += data
        out: list[Any] = []
        pos = 0
        end = len(buf)
        while True:
            if not self._need:
                if end - pos < HEADER_SIZE:
                    break
                (length,) = _HEADER.unpack_from(buf, pos)
                check_length(length, self._limits)
                self._need = length
                pos += HEADER_SIZE
            if end - pos < self._need:
                break
            body = bytes(buf[pos : pos + self._need])
            pos += self._need
            self._need = 0
            out.append(unpack(body, self._limits))
        if pos:
            del buf[:pos]
        return out


def _recv_exactly(sock: socket.socket, n: int, *, at_start: bool) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        try:
            chunk = sock.recv(n - len(chunks))
        except TimeoutError:
            raise FrameTimeout("timed out waiting for a frame") from None
        if not chunk:
            if at_start and not chunks:
                raise ConnectionClosed("peer closed the connection")
            raise TruncatedFrame(f"stream ended after {len(chunks)} of {n} bytes")
        chunks += chunk
    return bytes(chunks)


def read_frame(
    sock: socket.socket,
    limits: Limits,
    *,
    timeout: float | None,
    idle_timeout: float | None = None,
) -> Any:
    """Read one object from a blocking socket.

    ``idle_timeout`` bounds the wait for a frame to begin (``None`` waits
    forever); ``timeout`` bounds the rest of the frame once it has begun.
    """
    saved = sock.gettimeout()
    try:
        sock.settimeout(idle_timeout)
        first = _recv_exactly(sock, 1, at_start=True)
        sock.settimeout(timeout)
        header = first + _recv_exactly(sock, HEADER_SIZE - 1, at_start=False)
        (length,) = _HEADER.unpack(header)
        check_length(length, limits)
        return unpack(_recv_exactly(sock, length, at_start=False), limits)
    finally:
        sock.settimeout(saved)


def write_frame(sock: socket.socket, obj: Any) -> None:
    sock.sendall(encode_frame(obj))


async def read_frame_async(
    reader: asyncio.StreamReader,
    limits: Limits,
    *,
    timeout: float | None,
    idle_timeout: float | None = None,
) -> Any:
    """The asyncio twin of :func:`read_frame` (``asyncio.timeout``: no task per read)."""
    try:
        async with asyncio.timeout(idle_timeout):
            first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        raise ConnectionClosed("peer closed the connection") from None
    except TimeoutError:
        raise FrameTimeout("timed out waiting for a frame") from None
    try:
        async with asyncio.timeout(timeout):
            rest = await reader.readexactly(HEADER_SIZE - 1)
            (length,) = _HEADER.unpack(first + rest)
            check_length(length, limits)
            body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise TruncatedFrame(f"stream ended inside a frame ({len(exc.partial)} bytes)") from None
    except TimeoutError:
        raise FrameTimeout("timed out inside a frame") from None
    return unpack(body, limits)
