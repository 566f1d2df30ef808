"""``import.customer``: a CSV of customers into the domain database.

Columns: ``name`` (required), ``email``, ``phone``, ``street``, ``city``,
``postal_code``, ``country``, ``lat``, ``lng``, and ``external_id``.
"""

from __future__ import annotations

from typing import Annotated, Any, Required

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from . import _domain
from ._api import Category, FileUse, ProcessorSpec
from ._context import JobContext
from ._importer import CHECK_EVERY, ImportKind, Row, run_csv_import

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\+?[0-9 ()./-]{3,30}$"

Name = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=300)]
Short = Annotated[str, Field(max_length=100)]
Email = Annotated[str, Field(max_length=254, pattern=EMAIL)]
Phone = Annotated[str, Field(max_length=40, pattern=PHONE)]
PostalCode = Annotated[str, Field(max_length=20)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]


class CustomerRow(TypedDict, total=False):
    """One valid row. Native constraints only: pydantic-core checks a row without
    calling back into Python."""

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


KIND = ImportKind(
    name="import.customer",
    columns=frozenset(_domain.CUSTOMER_FIELDS),
    required=frozenset({"name"}),
    validator=TypeAdapter(CustomerRow),
    write=_domain.upsert_customers,
    numeric=frozenset({"lat", "lng"}),
    check_row=_coordinates_together,
    pattern_messages={"email": "not an e-mail address", "phone": "not a phone number"},
)


class ImportPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def run_import(ctx: JobContext, _payload: ImportPayload) -> dict[str, Any]:
    return run_csv_import(ctx, KIND)


SPEC = ProcessorSpec(
    name="import.customer",
    category=Category.LOOP,
    run=run_import,
    payload_model=ImportPayload,
    check_every=CHECK_EVERY,
    cpu_bound=lambda _p: True,  # parsing and validation hold the GIL
    rerun_safe=True,  # rows are upserted by their natural key
    file=FileUse.REQUIRED,
    description="CSV of customers into the domain database",
)
