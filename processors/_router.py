"""Routers: distance matrices and route geometry.

The embedded default estimates from great-circle distances (times a detour
factor, at a configured speed) and draws straight lines; the real one is
Valhalla's HTTP API (``/sources_to_targets`` and ``/route``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._backends import BackendConfig
from ._errors import BackendError
from ._geo import Point, decode_polyline, haversine_m
from ._http import JsonHttp

MAX_POINTS = 200
DETOUR = 1.3  # roads are longer than the great circle; a common rule of thumb


@dataclass(frozen=True, slots=True)
class Matrix:
    """None where the router knows no path between the two points."""

    durations_s: list[list[float | None]]
    distances_m: list[list[float | None]]


@dataclass(frozen=True, slots=True)
class Geometry:
    points: list[Point]
    distance_m: float
    duration_s: float


class Router(Protocol):
    name: str

    def matrix(self, points: Sequence[Point]) -> Matrix: ...
    def geometry(self, points: Sequence[Point]) -> Geometry: ...


def _check(points: Sequence[Point], least: int) -> None:
    if len(points) < least:
        raise BackendError(f"at least {least} points are needed, {len(points)} given")
    if len(points) > MAX_POINTS:
        raise BackendError(f"at most {MAX_POINTS} points, {len(points)} given")


class GreatCircleRouter:
    name = "great-circle estimate"

    def __init__(self, speed_kmh: float) -> None:
        self._speed_ms = speed_kmh / 3.6

    def matrix(self, points: Sequence[Point]) -> Matrix:
        _check(points, 1)
        dist = [[round(haversine_m(a, b) * DETOUR, 1) for b in points] for a in points]
        dur: list[list[float | None]] = [
            [round(d / self._speed_ms, 1) for d in row] for row in dist
        ]
        return Matrix(durations_s=dur, distances_m=[list(r) for r in dist])

    def geometry(self, points: Sequence[Point]) -> Geometry:
        _check(points, 2)
        distance = sum(haversine_m(a, b) * DETOUR for a, b in itertools.pairwise(points))
        return Geometry(list(points), round(distance, 1), round(distance / self._speed_ms, 1))


class ValhallaRouter:
    name = "valhalla"

    def __init__(self, config: BackendConfig) -> None:
        self._http = JsonHttp(
            "router",
            config.router_url,
            timeout_s=config.backend_timeout_s,
            retries=config.backend_retries,
        )

    @staticmethod
    def _loc(p: Point) -> dict[str, float]:
        return {"lat": p.lat, "lon": p.lng}

    def matrix(self, points: Sequence[Point]) -> Matrix:
        _check(points, 1)
        locs = [self._loc(p) for p in points]
        body = {"sources": locs, "targets": locs, "costing": "auto", "units": "kilometers"}
        answer = self._http.request("POST", "/sources_to_targets", json=body)
        try:
            rows = answer["sources_to_targets"]
            dur = [[_num(cell.get("time")) for cell in row] for row in rows]
            dist = [[_km(cell.get("distance")) for cell in row] for row in rows]
        except (KeyError, TypeError, AttributeError) as exc:
            raise BackendError(f"router answered an unexpected matrix: {exc!r}") from None
        if len(dur) != len(points) or any(len(r) != len(points) for r in dur):
            raise BackendError("router answered a matrix of the wrong size")
        return Matrix(durations_s=dur, distances_m=dist)

    def geometry(self, points: Sequence[Point]) -> Geometry:
        _check(points, 2)
        body = {
            "locations": [self._loc(p) for p in points],
            "costing": "auto",
            "directions_options": {"units": "kilometers"},
        }
        answer = self._http.request("POST", "/route", json=body)
        try:
            trip = answer["trip"]
            shape: list[Point] = []
            for leg in trip["legs"]:
                pts = decode_polyline(leg["shape"])
                shape.extend(pts if not shape else pts[1:])
            summary = trip["summary"]
            return Geometry(shape, float(summary["length"]) * 1000, float(summary["time"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"router answered an unexpected route: {exc!r}") from None


def _num(value: Any) -> float | None:
    return None if value is None else float(value)  # None: Valhalla knows no path


def _km(value: Any) -> float | None:
    return None if value is None else float(value) * 1000


def build_router(config: BackendConfig) -> Router:
    if config.router == "valhalla":
        return ValhallaRouter(config)
    return GreatCircleRouter(config.router_speed_kmh)
