"""``sazinkactl schema -o DIR``: JSON Schema of every payload, status and reply.

For each job type, ``<type>.payload.schema.json`` and ``<type>.status.schema.json``;
for the control protocol, ``reply.<command>.schema.json``. The repository keeps
a generated copy in ``schema/``; a test fails when it drifts from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from processors import Registry, default_registry
from processors._schemas import status_model

from ._protocol import REPLIES


def schemas(registry: Registry | None = None) -> dict[str, dict[str, Any]]:
    reg = registry or default_registry(diag=True)
    out: dict[str, dict[str, Any]] = {}
    for spec in reg:
        payload = spec.payload_model.model_json_schema()
        payload["description"] = spec.description
        out[f"{spec.name}.payload.schema.json"] = payload
        status = TypeAdapter(status_model(spec)).json_schema()
        status["title"] = f"{spec.name} status"
        out[f"{spec.name}.status.schema.json"] = status
    for name, model in REPLIES.items():
        out[f"reply.{name}.schema.json"] = model.model_json_schema()
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(schemas().items()):
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written
