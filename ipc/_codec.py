"""msgpack with limits: item counts far below the byte limit, no ext types, string keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from ._errors import MalformedFrame

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What one frame may hold.

    ``max_bytes`` bounds the body; ``max_items`` bounds every array and map, so a
    small body cannot make the unpacker allocate millions of objects.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_items: int = 100_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_items <= 0:
            raise ValueError("limits must be positive")


def pack(obj: Any) -> bytes:
    """Serialise one object. Bytes stay bytes, str stays str."""
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(body: bytes | memoryview, limits: Limits) -> Any:
    """Deserialise exactly one object from ``body`` or raise :class:`MalformedFrame`."""
    try:
        return msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limits.max_bytes,
            max_bin_len=limits.max_bytes,
            max_array_len=limits.max_items,
            max_map_len=limits.max_items,
            max_ext_len=0,
        )
    except (ValueError, TypeError) as exc:  # every msgpack failure is a ValueError
        raise MalformedFrame(f"malformed msgpack body: {type(exc).__name__}: {exc}") from None
