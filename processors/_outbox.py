"""Outboxes of the embedded mailer and SMS gateway: one file per message, written
under a temporary name and renamed, so a reader never sees half a message."""

from __future__ import annotations

from pathlib import Path


def deliver(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(data)
    return tmp.rename(directory / name)
