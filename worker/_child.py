"""The worker process: runs jobs on a fixed set of threads, one slot each.

It attaches to the flag table by name, reads ``run``/``stop`` frames
from its socket on the main thread, and reports exactly one ``done`` per job,
from a ``finally``: the Python form of the seed's RAII ``JobGuard``.

When the supervisor's end of the socket closes, the supervisor is gone and this
process exits at once; nothing would hear its reports.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ipc import CancelReason, FlagTable, FrameDecoder, FrameError, Limits, encode_frame
from processors import (
    BackendConfig,
    Backends,
    Failed,
    JobCancelled,
    JobContext,
    JobFailed,
    ProcessorError,
    Registry,
    default_registry,
)

log = logging.getLogger("sazinka.child")


def _failed(error: str, detail: str | None = None) -> dict[str, Any]:
    return Failed(type="failed", error=error, detail=detail).model_dump(exclude_none=True)


class _Runner:
    def __init__(
        self,
        sock: socket.socket,
        table: FlagTable,
        registry: Registry,
        threads: int,
        state_dir: Path,
        backends: Backends,
    ) -> None:
        self._sock = sock
        self._backends = backends
        self._table = table
        self._registry = registry
        self._state_dir = state_dir
        self._send_lock = threading.Lock()
        self._outbox: list[bytes] = []
        self._sending = False
        self._jobs: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"job-{i}", daemon=True)
            for i in range(threads)
        ]

    # -- I/O ---------------------------------------------------------------

    def send(self, msg: dict[str, Any]) -> None:
        """Thread-safe. Whoever finds nobody sending becomes the sender and writes
        everything queued meanwhile in one call (combining, without a thread)."""
        frame = encode_frame(msg)
        with self._send_lock:
            self._outbox.append(frame)
            if self._sending:
                return
            self._sending = True
        while True:
            with self._send_lock:
                if not self._outbox:
                    self._sending = False
                    return
                data = b"".join(self._outbox)
                self._outbox.clear()
            try:
                self._sock.sendall(data)
            except OSError:
                os._exit(0)  # the supervisor is gone

    def _frames(self, limits: Limits) -> Iterator[Any]:
        decoder = FrameDecoder(limits)
        while True:
            try:
                data = self._sock.recv(1 << 16)
                if not data:
                    return
                yield from decoder.feed(data)
            except (FrameError, OSError):
                return

    def serve(self, limits: Limits) -> None:
        for t in self._threads:
            t.start()
        self.send({"t": "hello", "pid": os.getpid()})
        for msg in self._frames(limits):
            kind = msg.get("t") if isinstance(msg, dict) else None
            if kind == "run":
                self._jobs.put(msg)
            elif kind == "stop":
                break
        else:
            os._exit(0)  # the supervisor is gone (or sent garbage): nothing would hear us
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join()

    # -- jobs ----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            msg = self._jobs.get()
            if msg is None:
                return
            self._run(msg)

    def _run(self, msg: dict[str, Any]) -> None:
        slot: int = msg["slot"]
        gen: int = msg["gen"]
        job_id: str = msg["job"]
        outcome = "failed"
        status: dict[str, Any] = _failed("internal", "no outcome")
        ctx: JobContext | None = None
        try:
            spec = self._registry.get(msg["type"])
            payload = spec.payload_model.model_validate(msg["payload"])
            ctx = JobContext.bind(
                self._table,
                slot,
                job_id=job_id,
                job_type=msg["type"],
                owner_id=msg["owner"],
                state_dir=self._state_dir,
                file=Path(msg["file"]) if msg.get("file") else None,
                emit=lambda m: self.send({**m, "slot": slot, "gen": gen, "job": job_id}),
                backends=self._backends,
            )
            if ctx.generation != gen:
                raise JobFailed(f"slot {slot} belongs to generation {ctx.generation}, not {gen}")
            ctx.check()  # cancelled between dispatch and here: it never starts
            status = spec.run(ctx, payload)
            outcome = "completed"
        except JobCancelled as exc:
            # A user's cancel wins over a shutdown, even one that raced in after the check.
            user = CancelReason.REQUESTED in (exc.reason, self._table.cancel_reason(slot))
            outcome = "cancelled" if user else "interrupted"
            if exc.status is not None:
                status = exc.status
            else:
                spec = self._registry.get(msg["type"])
                status = spec.cancelled_status(*((ctx.processed, ctx.total) if ctx else (0, 0)))
        except (JobFailed, ProcessorError) as exc:
            status = _failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure becomes the job's outcome
            log.error("job %s (%s) crashed:\n%s", job_id, msg.get("type"), traceback.format_exc())
            status = _failed(f"{type(exc).__name__}: {exc}")
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt raised inside a processor
            status = _failed(f"{type(exc).__name__} raised by the job")
        finally:
            del ctx
            self.send(
                {
                    "t": "done",
                    "slot": slot,
                    "gen": gen,
                    "job": job_id,
                    "outcome": outcome,
                    "status": status,
                }
            )


def child_main(
    sock: socket.socket,
    table_name: str,
    threads: int,
    state_dir: str,
    diag_jobs: bool,
    max_frame_bytes: int,
    log_level: str,
    backend_config: dict[str, Any],
) -> None:
    """Entry point of a worker process (spawned by the pool)."""
    # Ctrl-C, `timeout`, and systemd's default KillMode signal the whole group. The
    # supervisor decides when its workers stop; if it dies, the socket's EOF ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level,
        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    table = FlagTable.attach(table_name)
    runner = _Runner(
        sock,
        table,
        default_registry(diag=diag_jobs),
        threads,
        Path(state_dir),
        Backends(BackendConfig.model_validate(backend_config)),
    )
    runner.serve(Limits(max_bytes=max_frame_bytes))
    table.close()
