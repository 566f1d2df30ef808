"""Processors by name. Duplicates are refused."""

from __future__ import annotations

from collections.abc import Iterator

from ._api import ProcessorSpec
from ._errors import DuplicateProcessor, UnknownJobType


class Registry:
    __slots__ = ("_specs",)

    def __init__(self) -> None:
        self._specs: dict[str, ProcessorSpec] = {}

    def register(self, spec: ProcessorSpec) -> None:
        if spec.name in self._specs:
            raise DuplicateProcessor(f"processor {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, name: str) -> ProcessorSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownJobType(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ProcessorSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return sorted(self._specs)


def default_registry(*, diag: bool = False) -> Registry:
    """Every production job type, plus ``diag.*`` when ``diag`` is on."""
    from . import (
        _checkcost,
        _diag,
        _export,
        _geocode,
        _import_zip,
        _imports,
        _messaging,
        _routing,
    )

    reg = Registry()
    for spec in (
        *_imports.SPECS,
        _import_zip.SPEC,
        *_geocode.SPECS,
        _export.SPEC,
        *_routing.SPECS,
        *_messaging.SPECS,
    ):
        reg.register(spec)
    if diag:
        for spec in (_diag.SPIN, _diag.ATOMIC, _diag.CRASH, _diag.PHASES, _checkcost.CHECKCOST):
            reg.register(spec)
    return reg
