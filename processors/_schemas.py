"""The status documents of every job type as pydantic models: the seed's
TypeScript shared types, as JSON Schema for clients (``sazinkactl schema``).

A job's ``status`` is one of: ``queued``, ``processing``, its type's
``completed`` shape, its ``cancelled`` shape, or ``failed``; ``type`` tells
which. Tests validate what real jobs report against these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from ._api import CancelShape, ProcessorSpec


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Queued(_Doc):
    type: Literal["queued"]


class Processing(_Doc):
    type: Literal["processing"]
    processed: int | None = None
    total: int | None = None
    progress: int | None = Field(default=None, description="percent, for jobs that report phases")
    message: str | None = Field(
        default=None, description="i18n key of the phase, e.g. jobs:formatting"
    )
    cancelRequested: bool | None = None  # noqa: N815 - wire name


class Failed(_Doc):
    type: Literal["failed"]
    error: str
    detail: str | None = None


class ProgressCancelled(_Doc):
    type: Literal["cancelled"]
    processed: int
    total: int
    succeeded: int | None = None
    failed: int | None = None


class FilesCancelled(_Doc):
    type: Literal["cancelled"]
    completedFiles: int  # noqa: N815 - wire name
    totalFiles: int  # noqa: N815 - wire name


class MessageCancelled(_Doc):
    type: Literal["cancelled"]
    message: str


class RowError(_Doc):
    row: int
    message: str


class ImportCompleted(_Doc):
    type: Literal["completed"]
    total: int
    succeeded: int
    failed: int
    errors: list[RowError]
    errorsOmitted: int = 0  # noqa: N815 - wire name


class FileResult(_Doc):
    file: str
    total: int
    succeeded: int
    failed: int
    errors: list[RowError]
    errorsOmitted: int = 0  # noqa: N815 - wire name


class ZipCompleted(_Doc):
    type: Literal["completed"]
    files: list[FileResult]
    total: int
    succeeded: int
    failed: int


class GeocodeBatchCompleted(_Doc):
    type: Literal["completed"]
    total: int
    succeeded: int
    failed: int
    notFound: list[int]  # noqa: N815 - wire name
    geocoder: str


class PlaceResult(_Doc):
    lat: float
    lng: float
    name: str
    precision: str
    country: str | None


class MatrixResult(_Doc):
    durations: list[list[float | None]] = Field(description="seconds; null where no path")
    distances: list[list[float | None]] = Field(description="metres; null where no path")


class GeometryResult(_Doc):
    geometry: str = Field(description="encoded polyline, precision 6")
    points: int
    distanceMeters: float  # noqa: N815 - wire name
    durationSeconds: float  # noqa: N815 - wire name


class RouteStop(_Doc):
    index: int
    customerId: int | None  # noqa: N815 - wire name
    name: str | None
    lat: float
    lng: float
    arrival: str
    serviceStart: str  # noqa: N815 - wire name
    departure: str
    late: bool


class SolverInfo(_Doc):
    name: str
    iterations: int
    seconds: float


class RouteResult(_Doc):
    order: list[int]
    stops: list[RouteStop]
    feasible: bool
    distanceMeters: float  # noqa: N815 - wire name
    durationSeconds: float  # noqa: N815 - wire name
    geometry: str
    solver: SolverInfo
    router: str


class ExportResult(_Doc):
    file: str
    bytes: int
    rows: dict[str, int]


class SentResult(_Doc):
    messageId: str  # noqa: N815 - wire name
    via: str


def completed(result: Any, name: str) -> type[BaseModel]:
    """``{"type": "completed", "result": <result>}``"""
    fields: dict[str, Any] = {"type": (Literal["completed"], ...), "result": (result, ...)}
    model: type[BaseModel] = create_model(name, __base__=_Doc, **fields)
    return model


PlaceCompleted = completed(PlaceResult, "PlaceCompleted")
MatrixCompleted = completed(MatrixResult, "MatrixCompleted")
GeometryCompleted = completed(GeometryResult, "GeometryCompleted")
RouteCompleted = completed(RouteResult, "RouteCompleted")
ExportCompleted = completed(ExportResult, "ExportCompleted")
SentCompleted = completed(SentResult, "SentCompleted")
AnyResultCompleted = completed(dict[str, Any], "ResultCompleted")

_CANCELLED = {
    CancelShape.PROGRESS: ProgressCancelled,
    CancelShape.FILES: FilesCancelled,
    CancelShape.MESSAGE: MessageCancelled,
}


def status_model(spec: ProcessorSpec) -> Any:
    """The union of every status a job of this type can show (``type`` tells which)."""
    cancelled: Any = _CANCELLED[spec.cancel_shape]
    if spec.cancel_shape is CancelShape.FILES:
        cancelled = FilesCancelled | ProgressCancelled  # rows, if its worker died mid-way
    done: Any = spec.completed_model or AnyResultCompleted
    return Queued | Processing | done | cancelled | Failed


def status_adapter(spec: ProcessorSpec) -> TypeAdapter[Any]:
    return TypeAdapter(status_model(spec))
