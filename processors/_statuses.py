"""Building status documents. Their shapes are the models of :mod:`._schemas`
(the same ones the JSON Schema is made from); this module only adds the
per-row error collector and the dump to a wire document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ._schemas import RowError

MAX_ERRORS = 1000


def doc(status: BaseModel) -> dict[str, Any]:
    """The wire document of a status model (absent optional fields left out)."""
    return status.model_dump(exclude_none=True)


class ErrorCollector:
    """Per-row errors: keeps the first MAX_ERRORS, counts the rest."""

    __slots__ = ("count", "kept")

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.count = 0

    def add(self, row: int, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(RowError(row=row, message=message))

    @property
    def omitted(self) -> int:
        return self.count - len(self.kept)
