"""``import.customer``: a CSV of customers into the domain database.

Checks every 50 rows. Each 50-row chunk is committed before the next check, so
whatever was reported as processed when a cancel lands stays in the system.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import _domain
from ._api import Category, FileUse, JobCancelled, ProcessorSpec
from ._context import JobContext
from ._csv import read_table
from ._errors import JobFailed
from ._statuses import ErrorCollector, ImportCancelled, ImportCompleted

CHECK_EVERY = 50
COLUMNS = frozenset(_domain.CUSTOMER_FIELDS)
REQUIRED = frozenset({"name"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,30}$")


def _number(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().replace(",", ".")  # Czech decimal comma
    return value


class CustomerRow(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=300)
    external_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    street: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=100)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_missing(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("lat", "lng", mode="before")
    @classmethod
    def _decimal_comma(cls, v: Any) -> Any:
        return _number(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is not None and not _PHONE.match(v):
            raise ValueError("not a phone number")
        return v

    @model_validator(mode="after")
    def _both_coordinates(self) -> CustomerRow:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat and lng must be given together")
        return self


class ImportPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def run_import(ctx: JobContext, _payload: ImportPayload) -> dict[str, Any]:
    if ctx.file is None:
        raise JobFailed("import.customer needs a CSV file")
    try:
        data = ctx.file.read_bytes()
    except OSError as exc:
        raise JobFailed(f"cannot read the uploaded file: {exc.strerror}") from None
    table = read_table(data, required=REQUIRED, known=COLUMNS)
    rows = table.rows
    total = len(rows)
    errors = ErrorCollector()
    succeeded = 0
    ctx.progress(0, total)
    db = _domain.connect(ctx.state_dir)
    try:
        for start in range(0, total, CHECK_EVERY):
            try:
                ctx.check()
            except JobCancelled as stop:
                # Everything before this checkpoint is committed and stays.
                stop.status = ImportCancelled(
                    processed=start, total=total, succeeded=succeeded, failed=errors.count
                ).doc()
                raise
            chunk = rows[start : start + CHECK_EVERY]
            good: list[dict[str, Any]] = []
            for row_no, record in chunk:
                bad = record.get("__error__")
                if bad is not None:
                    errors.add(row_no, bad)
                    continue
                try:
                    good.append(CustomerRow.model_validate(record).model_dump())
                except ValidationError as exc:
                    errors.add(row_no, describe(exc))
            succeeded += _domain.upsert_customers(db, ctx.owner_id, good)
            ctx.progress(start + len(chunk), total)
    finally:
        db.close()
    return ImportCompleted(
        total=total,
        succeeded=succeeded,
        failed=errors.count,
        errors=errors.kept,
        errors_omitted=errors.omitted,
    ).doc()


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
