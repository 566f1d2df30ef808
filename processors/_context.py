"""The processor's view of its job: the cancellation check, progress, phases.

``JobContext`` *is* the job's shared-memory slot: a ctypes structure mapped in
place, with a few Python attributes beside it. ``ctx.cancelled`` is therefore a
C-level read of one byte of the mapping: no lock, no system call, no message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ipc import CancelReason, FlagTable, SlotStruct

from ._api import JobCancelled
from ._backends import Backends

Emit = Callable[[dict[str, Any]], None]


class JobContext(SlotStruct):
    """Handed to ``ProcessorSpec.run``. Inherits the slot's fields:

    * ``cancelled`` - non-zero once the job must stop (the hot path);
    * ``processed``, ``total`` - the progress last written by this job;
    * ``sleep(seconds)`` - a sleep the supervisor's cancel cuts short.
    """

    __slots__ = ("_emit", "backends", "file", "job_id", "job_type", "owner_id", "state_dir")

    job_id: str
    job_type: str
    owner_id: str
    state_dir: Path
    file: Path | None
    backends: Backends
    _emit: Emit

    @classmethod
    def bind(
        cls,
        table: FlagTable,
        slot: int,
        *,
        job_id: str,
        job_type: str,
        owner_id: str,
        state_dir: Path,
        file: Path | None = None,
        emit: Emit | None = None,
        backends: Backends | None = None,
    ) -> JobContext:
        ctx = table.view(slot, cls)
        ctx.job_id = job_id
        ctx.job_type = job_type
        ctx.owner_id = owner_id
        ctx.state_dir = state_dir
        ctx.file = file
        ctx._emit = emit or _drop
        ctx.backends = backends or Backends({"state_dir": state_dir})
        return ctx

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the job must stop."""
        if self.cancelled:
            raise JobCancelled(CancelReason(self.cancelled))

    def progress(self, processed: int, total: int) -> None:
        """Publish progress through shared memory (the supervisor samples it)."""
        self.write_progress(processed, total)

    def phase(self, message_key: str, percent: int) -> None:
        """Report a phase change, e.g. ``ctx.phase("jobs:formatting", 50)``."""
        self._emit({"t": "phase", "key": message_key, "percent": int(percent)})


def _drop(_msg: dict[str, Any]) -> None:
    return None
