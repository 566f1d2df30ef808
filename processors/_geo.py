"""Points, great-circle distances and Valhalla's polyline6, for geocoders and routers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

EARTH_RADIUS_M = 6_371_008.8


class Point(NamedTuple):
    lat: float
    lng: float


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lng, b.lat, b.lng))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def decode_polyline(encoded: str, precision: int = 6) -> list[Point]:
    """Google's encoded polyline, at Valhalla's precision (6 digits) by default."""
    factor = 10**precision
    points: list[Point] = []
    lat = lng = 0
    i, n = 0, len(encoded)
    while i < n:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if i >= n:
                    raise ValueError("truncated polyline")
                b = ord(encoded[i]) - 63
                i += 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lng += deltas[1]
        points.append(Point(lat / factor, lng / factor))
    return points


def encode_polyline(points: Iterable[Sequence[float]], precision: int = 6) -> str:
    factor = 10**precision
    out: list[str] = []
    prev_lat = prev_lng = 0
    for lat_f, lng_f in points:
        lat, lng = round(lat_f * factor), round(lng_f * factor)
        for delta in (lat - prev_lat, lng - prev_lng):
            value = ~(delta << 1) if delta < 0 else delta << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        prev_lat, prev_lng = lat, lng
    return "".join(out)
