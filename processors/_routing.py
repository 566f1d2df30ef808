"""``valhalla.matrix`` and ``valhalla.geometry`` (atomic), and ``route`` (phases).

``route`` plans the order of the owner's stops from a start point, with optional
time windows: a distance matrix from the router, then PyVRP (a hybrid genetic
search for vehicle routing, with time windows), then the geometry of the chosen
order. PyVRP asks a stopping criterion after every iteration; ours is the
time limit or ``ctx.cancelled``, so a cancel stops the solver within one
iteration. The job checks between the phases too.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ipc import CancelReason

from . import _domain
from ._api import CancelShape, Category, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._errors import JobFailed
from ._geo import Point, encode_polyline
from ._router import MAX_POINTS
from ._schemas import GeometryCompleted, MatrixCompleted, RouteCompleted

Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_UNREACHABLE = 10**9  # seconds or metres: a pair the router has no path for


def _minutes(value: str) -> int:
    m = _HHMM.match(value)
    if m is None:
        raise ValueError("expected HH:MM")
    return int(m.group(1)) * 60 + int(m.group(2))


def _hhmm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatLng(_Model):
    lat: Lat
    lng: Lng


class PointsPayload(_Model):
    points: list[LatLng] = Field(min_length=1, max_length=MAX_POINTS)


class TimeWindow(_Model):
    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end")
    @classmethod
    def _hh_mm(cls, v: str) -> str:
        _minutes(v)
        return v

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if _minutes(self.start) >= _minutes(self.end):
            raise ValueError("a time window must end after it starts")
        return self


class Stop(_Model):
    customerId: int | None = None  # noqa: N815 - wire name
    lat: Lat | None = None
    lng: Lng | None = None
    name: str | None = Field(default=None, max_length=200)
    timeWindow: TimeWindow | None = None  # noqa: N815 - wire name
    serviceMinutes: int | None = Field(default=None, ge=0, le=24 * 60)  # noqa: N815 - wire name

    @model_validator(mode="after")
    def _where(self) -> Stop:
        if self.customerId is None and (self.lat is None or self.lng is None):
            raise ValueError("a stop needs a customerId or lat and lng")
        return self


class RoutePayload(_Model):
    start: Stop
    stops: list[Stop] = Field(min_length=1, max_length=MAX_POINTS - 1)
    departure: str = "08:00"
    serviceMinutes: int = Field(default=20, ge=0, le=24 * 60)  # noqa: N815 - wire name
    returnToStart: bool = True  # noqa: N815 - wire name
    maxSeconds: float = Field(default=5.0, gt=0, le=300)  # noqa: N815 - wire name

    @field_validator("departure")
    @classmethod
    def _departure(cls, v: str) -> str:
        _minutes(v)
        return v


# -- atomic ------------------------------------------------------------------------------


def run_matrix(ctx: JobContext, p: PointsPayload) -> dict[str, Any]:
    m = ctx.backends.router.matrix([Point(q.lat, q.lng) for q in p.points])
    return {"type": "completed", "result": {"durations": m.durations_s, "distances": m.distances_m}}


def run_geometry(ctx: JobContext, p: PointsPayload) -> dict[str, Any]:
    if len(p.points) < 2:
        raise JobFailed("a geometry needs at least two points")
    g = ctx.backends.router.geometry([Point(q.lat, q.lng) for q in p.points])
    return {
        "type": "completed",
        "result": {
            "geometry": encode_polyline(g.points),
            "points": len(g.points),
            "distanceMeters": round(g.distance_m, 1),
            "durationSeconds": round(g.duration_s, 1),
        },
    }


# -- route ---------------------------------------------------------------------------------


def _locate(ctx: JobContext, stops: list[Stop]) -> list[tuple[Point, str | None]]:
    """Coordinates for every stop; customers are looked up among the owner's own."""
    ids = [s.customerId for s in stops if s.customerId is not None]
    known: dict[int, tuple[float | None, float | None, str]] = {}
    if ids:
        db = _domain.connect(ctx.state_dir)
        try:
            marks = ", ".join("?" for _ in ids)
            for cid, lat, lng, name in db.execute(
                f"SELECT id, lat, lng, name FROM customers WHERE owner_id = ? AND id IN ({marks})",
                [ctx.owner_id, *ids],
            ):
                known[cid] = (lat, lng, name)
        finally:
            db.close()
    out = []
    for s in stops:
        if s.customerId is None:
            assert s.lat is not None and s.lng is not None
            out.append((Point(s.lat, s.lng), s.name))
            continue
        if s.customerId not in known:
            raise JobFailed(f"no customer {s.customerId}")
        lat, lng, name = known[s.customerId]
        if lat is None or lng is None:
            raise JobFailed(
                f"customer {s.customerId} has no coordinates; geocode it first (geocode.batch)"
            )
        out.append((Point(lat, lng), s.name or name))
    return out


def _check(ctx: JobContext) -> None:
    if ctx.cancelled:
        raise JobCancelled(
            CancelReason(ctx.cancelled), {"type": "cancelled", "message": "jobs:cancelled_by_user"}
        )


def _solve(
    ctx: JobContext,
    p: RoutePayload,
    durations: list[list[float | None]],
    distances: list[list[float | None]],
) -> tuple[list[int], dict[int, tuple[int, int, int]], bool, int]:
    """The visiting order (indexes into ``p.stops``), per stop (arrival, start, end)
    in seconds after midnight, feasibility, and the iterations run."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime, NoImprovement

    day_start = _minutes(p.departure) * 60
    horizon = 48 * 3600
    m = Model()
    locs = [m.add_location(x=i, y=0) for i in range(len(p.stops) + 1)]
    depot = m.add_depot(locs[0], tw_early=day_start, tw_late=horizon)
    for i, s in enumerate(p.stops, start=1):
        tw = s.timeWindow
        service = (s.serviceMinutes if s.serviceMinutes is not None else p.serviceMinutes) * 60
        m.add_client(
            locs[i],
            service_duration=service,
            tw_early=_minutes(tw.start) * 60 if tw else 0,
            tw_late=_minutes(tw.end) * 60 if tw else horizon,
        )
    m.add_vehicle_type(
        num_available=1,
        start_depot=depot,
        end_depot=depot,
        tw_early=day_start,
        tw_late=horizon,
        unit_distance_cost=0,
        unit_duration_cost=1,
    )
    n = len(locs)
    for a in range(n):
        for b in range(n):
            back_home = b == 0 and not p.returnToStart
            dur = 0 if back_home else durations[a][b]
            dist = 0 if back_home else distances[a][b]
            m.add_edge(
                locs[a],
                locs[b],
                distance=_UNREACHABLE if dist is None else round(dist),
                duration=_UNREACHABLE if dur is None else round(dur),
            )
    runtime = MaxRuntime(p.maxSeconds)
    settled = NoImprovement(2000)
    iterations = 0

    def stop(best_cost: int) -> bool:
        nonlocal iterations
        iterations += 1
        return bool(ctx.cancelled) or runtime(best_cost) or settled(best_cost)

    result = m.solve(stop=stop, display=False, seed=1)
    _check(ctx)  # the solver stopped because of a cancel: no half-planned route
    route = result.best.routes()[0]
    order: list[int] = []
    times: dict[int, tuple[int, int, int]] = {}
    for act in route.schedule():
        if act.is_client():
            order.append(act.idx)
            arrival = act.start_time - act.wait_duration
            times[act.idx] = (arrival, act.start_time, act.end_time)
    return order, times, bool(result.is_feasible()), iterations


def run_route(ctx: JobContext, p: RoutePayload) -> dict[str, Any]:
    router = ctx.backends.router
    located = _locate(ctx, [p.start, *p.stops])
    points = [pt for pt, _ in located]
    ctx.phase("jobs:route_matrix", 10)
    matrix = router.matrix(points)
    _check(ctx)
    ctx.phase("jobs:route_solving", 40)
    started = time.monotonic()
    order, times, feasible, iterations = _solve(ctx, p, matrix.durations_s, matrix.distances_m)
    solve_s = time.monotonic() - started
    _check(ctx)
    ctx.phase("jobs:route_geometry", 80)
    path = [points[0], *(points[i + 1] for i in order)]
    if p.returnToStart:
        path.append(points[0])
    geometry = router.geometry(path) if len(path) > 1 else None
    _check(ctx)
    stops = []
    for i in order:
        stop, (pt, name) = p.stops[i], located[i + 1]
        arrival, start, end = times[i]
        tw = stop.timeWindow
        stops.append(
            {
                "index": i,
                "customerId": stop.customerId,
                "name": name,
                "lat": pt.lat,
                "lng": pt.lng,
                "arrival": _hhmm(arrival),
                "serviceStart": _hhmm(start),
                "departure": _hhmm(end),
                "late": bool(tw and start > _minutes(tw.end) * 60),
            }
        )
    return {
        "type": "completed",
        "result": {
            "order": order,
            "stops": stops,
            "feasible": feasible,
            "distanceMeters": round(geometry.distance_m, 1) if geometry else 0.0,
            "durationSeconds": round(geometry.duration_s, 1) if geometry else 0.0,
            "geometry": encode_polyline(geometry.points) if geometry else "",
            "solver": {"name": "pyvrp", "iterations": iterations, "seconds": round(solve_s, 3)},
            "router": router.name,
        },
    }


SPECS = (
    ProcessorSpec(
        name="valhalla.matrix",
        category=Category.ATOMIC,
        run=run_matrix,
        payload_model=PointsPayload,
        rerun_safe=True,
        completed_model=MatrixCompleted,
        description="a duration and distance matrix between points",
    ),
    ProcessorSpec(
        name="valhalla.geometry",
        category=Category.ATOMIC,
        run=run_geometry,
        payload_model=PointsPayload,
        rerun_safe=True,
        completed_model=GeometryCompleted,
        description="the road geometry through points, in order",
    ),
    ProcessorSpec(
        name="route",
        category=Category.PHASES,
        run=run_route,
        payload_model=RoutePayload,
        cpu_bound=lambda _p: True,  # the solver
        rerun_safe=True,
        cancel_shape=CancelShape.MESSAGE,
        completed_model=RouteCompleted,
        description="the order to visit the owner's stops in, with time windows",
    ),
)
