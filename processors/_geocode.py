"""``geocode.address``, ``geocode.reverse`` (atomic) and ``geocode.batch`` (a loop).

The batch geocodes the owner's customers that have no coordinates, or the ids it
is given (the owner's only), checking every 10 customers. Requests are paced by
the geocoder's rate limit with ``ctx.sleep``, so a cancel cuts the wait short.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from . import _domain
from ._api import Category, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._errors import JobFailed
from ._geo import Point
from ._schemas import GeocodeBatchCompleted, PlaceCompleted, ProgressCancelled
from ._statuses import doc

BATCH_CHECK_EVERY = 10
COMMIT_EVERY = 50


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddressPayload(_Payload):
    address: Annotated[str, Field(min_length=2, max_length=500)]
    country: Annotated[str, Field(min_length=2, max_length=2)] | None = None


class ReversePayload(_Payload):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lng: Annotated[float, Field(ge=-180, le=180)]


class BatchPayload(_Payload):
    customerIds: list[int] | None = Field(default=None, max_length=100_000)  # noqa: N815 - wire name
    overwrite: bool = False  # also customers that already have coordinates


def run_address(ctx: JobContext, p: AddressPayload) -> dict[str, Any]:
    place = ctx.backends.geocoder.geocode(p.address, country=p.country, sleep=ctx.sleep)
    if place is None:
        raise JobFailed(f"address not found: {p.address!r}")
    return {"type": "completed", "result": place.doc()}


def run_reverse(ctx: JobContext, p: ReversePayload) -> dict[str, Any]:
    place = ctx.backends.geocoder.reverse(Point(p.lat, p.lng), sleep=ctx.sleep)
    if place is None:
        raise JobFailed(f"nothing known near {p.lat}, {p.lng}")
    return {"type": "completed", "result": place.doc()}


def _address(row: Any) -> str:
    street, postal, city, country = row[1], row[2], row[3], row[4]
    return ", ".join(x for x in (street, " ".join(y for y in (postal, city) if y), country) if x)


def run_batch(ctx: JobContext, p: BatchPayload) -> dict[str, Any]:
    db = _domain.connect(ctx.state_dir)
    try:
        where = "owner_id = ?" + ("" if p.overwrite else " AND (lat IS NULL OR lng IS NULL)")
        args: list[Any] = [ctx.owner_id]
        if p.customerIds is not None:
            where += f" AND id IN ({', '.join('?' for _ in p.customerIds)})"
            args += p.customerIds
        sql = f"SELECT id, street, postal_code, city, country FROM customers WHERE {where}"
        rows = db.execute(sql + " ORDER BY id", args).fetchall()
        if p.customerIds is not None and not rows and p.customerIds:
            raise JobFailed("none of the given customers is yours, or all have coordinates")
        total = len(rows)
        geocoder = ctx.backends.geocoder
        found = 0
        not_found: list[int] = []
        ctx.progress(0, total)
        pending: list[tuple[float, float, float, int]] = []
        for i, row in enumerate(rows):
            if i % BATCH_CHECK_EVERY == 0:
                try:
                    ctx.check()
                except JobCancelled as stop:
                    _save(db, pending, ctx.owner_id)  # what was found so far stays
                    stop.status = doc(
                        ProgressCancelled(
                            type="cancelled",
                            processed=i,
                            total=total,
                            succeeded=found,
                            failed=len(not_found),
                        )
                    )
                    raise
            address = _address(row)
            country = row[4] if row[4] and len(row[4]) == 2 else None
            place = geocoder.geocode(address, country=country, sleep=ctx.sleep) if address else None
            if place is None:
                not_found.append(row[0])
            else:
                found += 1
                pending.append((place.lat, place.lng, time.time(), row[0]))
            if len(pending) >= COMMIT_EVERY:
                _save(db, pending, ctx.owner_id)
            ctx.progress(i + 1, total)
        _save(db, pending, ctx.owner_id)
    finally:
        db.close()
    return {
        "type": "completed",
        "total": total,
        "succeeded": found,
        "failed": len(not_found),
        "notFound": not_found[:1000],
        "geocoder": geocoder.name,
    }


def _save(db: Any, pending: list[tuple[float, float, float, int]], owner: str) -> None:
    if pending:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "UPDATE customers SET lat = ?, lng = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
            [(*p, owner) for p in pending],
        )
        db.execute("COMMIT")
        pending.clear()


SPECS = (
    ProcessorSpec(
        name="geocode.address",
        category=Category.ATOMIC,
        run=run_address,
        payload_model=AddressPayload,
        rerun_safe=True,
        completed_model=PlaceCompleted,
        description="one address to coordinates",
    ),
    ProcessorSpec(
        name="geocode.reverse",
        category=Category.ATOMIC,
        run=run_reverse,
        payload_model=ReversePayload,
        rerun_safe=True,
        completed_model=PlaceCompleted,
        description="coordinates to the nearest named place",
    ),
    ProcessorSpec(
        name="geocode.batch",
        category=Category.LOOP,
        run=run_batch,
        payload_model=BatchPayload,
        check_every=BATCH_CHECK_EVERY,
        rerun_safe=True,
        completed_model=GeocodeBatchCompleted,
        description="the owner's customers without coordinates, geocoded",
    ),
)
