"""``sazinka-worker serve``: start everything in order, stop it in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from ipc import FlagTable, is_stale, sweep_stale
from processors import default_registry

from ._audit import AuditLog
from ._auth import TokenVerifier, ensure_secret
from ._config import Settings
from ._errors import Unavailable
from ._notify import notify
from ._server import ControlServer
from ._store import SqliteStore
from ._supervisor import Supervisor

log = logging.getLogger("sazinka")


@contextlib.contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """One supervisor per state directory."""
    fd = os.open(state_dir / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Unavailable(f"another supervisor is running on {state_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def prepare_state_dir(settings: Settings) -> None:
    """The state directory is 0750 (the group may reach the socket); everything
    the supervisor creates inside it is private (umask 077), except the socket."""
    os.umask(0o077)
    d = settings.state_dir
    d.mkdir(mode=0o750, parents=True, exist_ok=True)
    d.chmod(0o750)


async def _serve(settings: Settings) -> None:
    # Tens of thousands of queued jobs are long-lived objects: with the default
    # thresholds the cyclic collector keeps re-scanning them. Collect less often.
    gc.set_threshold(50_000, 50, 100)
    secret = ensure_secret(settings.secret_path)
    removed = sweep_stale(is_stale)
    if removed:
        log.warning("removed shared memory left by dead supervisors: %s", ", ".join(removed))
    table = FlagTable.create(settings.slots)
    store: SqliteStore | None = None
    server: ControlServer | None = None
    sup: Supervisor | None = None
    try:
        store = SqliteStore(settings.state_dir, sync=settings.journal_sync)
        sup = Supervisor(
            settings,
            default_registry(diag=settings.diag_jobs),
            store,
            table,
            AuditLog(settings.audit_path),
        )
        await sup.start()
        server = ControlServer(sup, settings, TokenVerifier(secret))
        await server.start()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "ready: %d process(es) x %d slot(s), socket %s, state %s",
            settings.processes,
            settings.threads,
            settings.socket_path,
            settings.state_dir,
        )
        notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=serving on {settings.socket_path}")
        await stop.wait()
        log.info("stopping")
        notify("STOPPING=1")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await sup.shutdown()
    finally:
        if server is not None:
            await server.close()
        if sup is not None and not sup.pool.stopping:
            await sup.pool.stop(timeout=5.0)
        if store is not None:
            await store.close()
        table.close()
        table.unlink()
    log.info("stopped")


def serve(settings: Settings) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=settings.log_level,
        format="%(asctime)s supervisor[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    prepare_state_dir(settings)
    with _state_lock(settings.state_dir):
        asyncio.run(_serve(settings))
    return 0
