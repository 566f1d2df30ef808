"""The audit log: one JSON line per security-relevant event (a stranger's cancel, ...)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("sazinka.audit")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        entry = {"ts": time.time(), "event": event, **fields}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        log.warning("%s %s", event, json.dumps(fields, default=str))
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
