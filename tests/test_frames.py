"""Frames: 4-byte big-endian length, one msgpack body, hostile bytes refused cheaply."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipc import (
    ConnectionClosed,
    EmptyFrame,
    FrameDecoder,
    FrameTimeout,
    FrameTooLarge,
    Limits,
    MalformedFrame,
    TruncatedFrame,
    encode_frame,
    read_frame,
    write_frame,
)

LIMITS = Limits(max_bytes=4096, max_items=64)


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_roundtrip_through_decoder_in_arbitrary_chunks() -> None:
    msgs = [{"op": "submit", "n": i, "blob": b"x" * i} for i in range(20)]
    wire = b"".join(encode_frame(m) for m in msgs)
    dec = FrameDecoder(LIMITS)
    out = []
    for i in range(0, len(wire), 7):
        out.extend(dec.feed(wire[i : i + 7]))
    assert out == msgs
    assert dec.pending == 0


def test_zero_length_is_refused_at_the_header() -> None:
    dec = FrameDecoder(LIMITS)
    with pytest.raises(EmptyFrame):
        dec.feed(b"\x00\x00\x00\x00")


def test_oversized_length_is_refused_before_the_body_arrives() -> None:
    dec = FrameDecoder(LIMITS)
    with pytest.raises(FrameTooLarge) as info:
        dec.feed(struct.pack(">I", 4097))  # header only: no body was ever sent
    assert info.value.length == 4097
    assert info.value.limit == 4096


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xc1", "reserved byte"),
        (b"\x92\x01", "truncated array inside the body"),
        (b"\x01\x02", "two objects in one frame"),
        (msgpack.packb(msgpack.ExtType(5, b"xx")), "ext type"),
        (b"\xd6\xff\x00\x00\x00\x00", "timestamp ext"),
        (msgpack.packb({1: 2}), "non-string map key"),
        (msgpack.packb(list(range(65))), "array longer than max_items"),
        (msgpack.packb({str(i): i for i in range(65)}), "map longer than max_items"),
        (b"\x91" * 2000 + b"\x00", "nesting deeper than the unpacker stack"),
        (b"\xa2\xff\xfe", "invalid utf-8 string"),
        (b"\xdd\xff\xff\xff\xff", "array header claiming 4 billion items"),
    ],
)
def test_hostile_bodies_are_malformed_frames(body: bytes, why: str) -> None:
    dec = FrameDecoder(LIMITS)
    with pytest.raises(MalformedFrame):
        dec.feed(_frame(body))


def test_malformed_frame_does_not_poison_a_fresh_decoder() -> None:
    dec = FrameDecoder(LIMITS)
    with pytest.raises(MalformedFrame):
        dec.feed(_frame(b"\xc1"))
    assert FrameDecoder(LIMITS).feed(encode_frame({"ok": True})) == [{"ok": True}]


@given(st.binary(max_size=300))
def test_any_bytes_either_decode_or_raise_frame_errors(data: bytes) -> None:
    dec = FrameDecoder(LIMITS)
    with contextlib.suppress(EmptyFrame, FrameTooLarge, MalformedFrame):
        dec.feed(data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20),
        lambda kids: (
            st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=5), kids, max_size=5)
        ),
        max_leaves=30,
    )
)
def test_any_json_like_value_roundtrips(value: object) -> None:
    assert FrameDecoder(Limits(max_bytes=1 << 20)).feed(encode_frame(value)) == [value]


def test_socket_read_and_write() -> None:
    a, b = socket.socketpair()
    with a, b:
        write_frame(a, {"hello": "world"})
        assert read_frame(b, LIMITS, timeout=5) == {"hello": "world"}


def test_socket_eof_between_frames_is_a_clean_close() -> None:
    a, b = socket.socketpair()
    with b:
        a.close()
        with pytest.raises(ConnectionClosed):
            read_frame(b, LIMITS, timeout=5)


def test_socket_eof_inside_a_frame_is_truncation() -> None:
    a, b = socket.socketpair()
    with b:
        a.sendall(struct.pack(">I", 10) + b"\x01")
        a.close()
        with pytest.raises(TruncatedFrame):
            read_frame(b, LIMITS, timeout=5)


def test_socket_slow_body_times_out() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack(">I", 10) + b"\x01")  # then nothing more
        with pytest.raises(FrameTimeout):
            read_frame(b, LIMITS, timeout=0.05)


def test_socket_oversized_header_refused_without_reading_body() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack(">I", 10_000_000))
        with pytest.raises(FrameTooLarge):
            read_frame(b, LIMITS, timeout=5)


def test_idle_wait_has_its_own_timeout() -> None:
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(FrameTimeout):
            read_frame(b, LIMITS, timeout=5, idle_timeout=0.05)
        done = threading.Event()

        def late_writer() -> None:
            done.wait(5)
            write_frame(a, [1, 2, 3])

        t = threading.Thread(target=late_writer)
        t.start()
        done.set()
        assert read_frame(b, LIMITS, timeout=5, idle_timeout=None) == [1, 2, 3]
        t.join()
