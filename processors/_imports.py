"""The five CSV imports: customers, devices, revisions, communications, visits.

Each is an :class:`ImportKind` for the shared engine (:mod:`._importer`): its
columns, a row validator with native pydantic constraints only, its
references, and the domain table it writes. The formats are documented in the
README; ``import.zip`` takes the same files by their ``file_name``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from . import _domain
from ._api import Category, FileUse, ProcessorSpec
from ._context import JobContext
from ._domain import Resolver
from ._importer import CHECK_EVERY, ImportKind, Row, run_csv_import
from ._schemas import ImportCompleted

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\+?[0-9 ()./-]{3,30}$"

Name = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=300)]
Long = Annotated[str, Field(max_length=10_000)]
Short = Annotated[str, Field(max_length=100)]
Email = Annotated[str, Field(max_length=254, pattern=EMAIL)]
Phone = Annotated[str, Field(max_length=40, pattern=PHONE)]
PostalCode = Annotated[str, Field(max_length=20)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
Months = Annotated[int, Field(ge=1, le=600)]
Minutes = Annotated[int, Field(ge=0, le=100_000)]

_PATTERNS = {
    "email": "not an e-mail address",
    "customer_email": "not an e-mail address",
    "phone": "not a phone number",
}
_CUSTOMER_REF = frozenset({"customer_external_id", "customer_email"})
_DEVICE_REF = frozenset({"device_external_id", "device_serial_number"})


# -- customers ------------------------------------------------------------------------


class CustomerRow(TypedDict, total=False):
    name: Required[Name]
    external_id: Short
    email: Email
    phone: Phone
    street: Text
    city: Text
    postal_code: PostalCode
    country: Short
    lat: Lat
    lng: Lng


def _coordinates_together(row: Row) -> str | None:
    if ("lat" in row) != ("lng" in row):
        return "lat and lng must be given together"
    return None


CUSTOMERS = ImportKind(
    name="import.customer",
    file_name="customers.csv",
    columns=frozenset(_domain.CUSTOMER_FIELDS),
    required=frozenset({"name"}),
    validator=TypeAdapter(CustomerRow),
    write=_domain.CUSTOMERS.upsert,
    numeric=frozenset({"lat", "lng"}),
    check_row=_coordinates_together,
    pattern_messages=_PATTERNS,
)


# -- references -------------------------------------------------------------------------


def _customer(resolver: Resolver, row: Row) -> str | None:
    found = resolver.customer(row.get("customer_external_id"), row.get("customer_email"))
    if isinstance(found, str):
        return found
    row["customer_id"] = found
    return None


def _device(resolver: Resolver, row: Row, *, required: bool) -> str | None:
    found = resolver.device(row.get("device_external_id"), row.get("device_serial_number"))
    if isinstance(found, str):
        return found
    if found is None and required:
        return "the row names no device (device_external_id or device_serial_number)"
    row["device_id"] = found
    return None


# -- devices ----------------------------------------------------------------------------


class DeviceRow(TypedDict, total=False):
    device_type: Required[Annotated[str, Field(min_length=1, max_length=100)]]
    external_id: Short
    customer_external_id: Short
    customer_email: Email
    manufacturer: Text
    model: Text
    serial_number: Short
    installed_on: date
    revision_interval_months: Months
    note: Long


DEVICES = ImportKind(
    name="import.device",
    file_name="devices.csv",
    columns=frozenset(DeviceRow.__annotations__),
    required=frozenset({"device_type"}),
    one_of=(_CUSTOMER_REF,),
    validator=TypeAdapter(DeviceRow),
    write=_domain.DEVICES.upsert,
    dates=frozenset({"installed_on"}),
    resolve=_customer,
    pattern_messages=_PATTERNS,
)


# -- revisions --------------------------------------------------------------------------


class RevisionRow(TypedDict, total=False):
    revision_date: Required[date]
    external_id: Short
    device_external_id: Short
    device_serial_number: Short
    result: Literal["passed", "failed", "conditional"]
    next_due: date
    technician: Text
    note: Long


REVISIONS = ImportKind(
    name="import.revision",
    file_name="revisions.csv",
    columns=frozenset(RevisionRow.__annotations__),
    required=frozenset({"revision_date"}),
    one_of=(_DEVICE_REF,),
    validator=TypeAdapter(RevisionRow),
    write=_domain.REVISIONS.upsert,
    dates=frozenset({"revision_date", "next_due"}),
    lowercase=frozenset({"result"}),
    resolve=lambda r, row: _device(r, row, required=True),
)


# -- communications -----------------------------------------------------------------------


class CommunicationRow(TypedDict, total=False):
    kind: Required[Literal["call", "email", "sms", "note", "meeting"]]
    occurred_at: Required[datetime]
    external_id: Short
    customer_external_id: Short
    customer_email: Email
    direction: Literal["in", "out"]
    subject: Text
    body: Long


COMMUNICATIONS = ImportKind(
    name="import.communication",
    file_name="communications.csv",
    columns=frozenset(CommunicationRow.__annotations__),
    required=frozenset({"kind", "occurred_at"}),
    one_of=(_CUSTOMER_REF,),
    validator=TypeAdapter(CommunicationRow),
    write=_domain.COMMUNICATIONS.upsert,
    dates=frozenset({"occurred_at"}),
    lowercase=frozenset({"kind", "direction"}),
    resolve=_customer,
    pattern_messages=_PATTERNS,
)


# -- visits ------------------------------------------------------------------------------


class VisitRow(TypedDict, total=False):
    visited_on: Required[date]
    external_id: Short
    customer_external_id: Short
    customer_email: Email
    device_external_id: Short
    device_serial_number: Short
    duration_minutes: Minutes
    technician: Text
    result: Literal["done", "partial", "failed", "cancelled"]
    work_done: Long
    note: Long


def _visit_refs(resolver: Resolver, row: Row) -> str | None:
    return _customer(resolver, row) or _device(resolver, row, required=False)


VISITS = ImportKind(
    name="import.visit",
    file_name="visits.csv",
    columns=frozenset(VisitRow.__annotations__),
    required=frozenset({"visited_on"}),
    one_of=(_CUSTOMER_REF,),
    validator=TypeAdapter(VisitRow),
    write=_domain.VISITS.upsert,
    dates=frozenset({"visited_on"}),
    lowercase=frozenset({"result"}),
    resolve=_visit_refs,
    pattern_messages=_PATTERNS,
)

#: in the order an import.zip processes them: what is referred to comes first
KINDS = (CUSTOMERS, DEVICES, REVISIONS, COMMUNICATIONS, VISITS)


class ImportPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _spec(kind: ImportKind, what: str) -> ProcessorSpec:
    def run(ctx: JobContext, _payload: ImportPayload) -> dict[str, Any]:
        return run_csv_import(ctx, kind)

    return ProcessorSpec(
        name=kind.name,
        category=Category.LOOP,
        run=run,
        payload_model=ImportPayload,
        check_every=CHECK_EVERY,
        cpu_bound=lambda _p: True,  # parsing and validation hold the GIL
        rerun_safe=True,  # rows are upserted by their natural key
        file=FileUse.REQUIRED,
        completed_model=ImportCompleted,
        description=f"CSV of {what} into the domain database",
    )


SPECS = (
    _spec(CUSTOMERS, "customers"),
    _spec(DEVICES, "devices"),
    _spec(REVISIONS, "device revisions"),
    _spec(COMMUNICATIONS, "communications"),
    _spec(VISITS, "visits"),
)
