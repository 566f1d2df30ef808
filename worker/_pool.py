"""The worker pool: processes, their sockets and sentinels, and slot placement.

::

    supervisor (asyncio loop)                          worker process i
    ─────────────────────────                          ────────────────
    FlagTable ── shared memory "sazinka-<pid>-<hex>" ── attached by name
      slot s: cancel byte, generation   <- written by the supervisor only; after raising
                                           the flag it futex-wakes a job sleeping on it
              seq, processed, total     <- written by the job in slot s only
    socketpair i (msgpack frames)
      run {slot, gen, job, ...}  ──────────────────>  reader (main thread)
                                                        -> job threads (`threads` of them)
      stop                       ──────────────────>
      <───────────────────────────────  hello / phase / done {slot, gen, outcome}
    process sentinel i  ── readable when process i dies ── noticed at once by the loop

Process ``i`` owns slots ``i*threads .. i*threads+threads-1``. The supervisor
decides which slot a job takes; the job writes only that slot's progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import multiprocess
import psutil

from ipc import FlagTable, FrameDecoder, FrameError, Limits, encode_frame

from ._child import child_main
from ._config import Settings

log = logging.getLogger("sazinka.pool")

OnMessage = Callable[["Proc", dict[str, Any]], None]
OnDeath = Callable[["Proc", str], None]


def describe_exit(exitcode: int | None) -> str:
    """``-9`` -> ``"killed by SIGKILL"``; ``1`` -> ``"exited with status 1"``."""
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


@dataclass(eq=False)
class Proc:
    index: int
    slots: range
    process: Any = None
    transport: asyncio.Transport | None = None
    pid: int = 0
    ready: bool = False
    alive: bool = True
    started_at: float = field(default_factory=time.monotonic)
    free: list[int] = field(default_factory=list)
    busy: dict[int, str] = field(default_factory=dict)  # slot -> job id
    cpu_busy: int = 0
    outbox: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.free = list(reversed(self.slots))


class _ChildProtocol(asyncio.Protocol):
    def __init__(self, pool: WorkerPool, proc: Proc, limits: Limits) -> None:
        self._pool = pool
        self._proc = proc
        self._decoder = FrameDecoder(limits)

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self._decoder.feed(data)
        except FrameError as exc:
            log.error("worker %d sent a bad frame (%s); killing it", self._proc.pid, exc)
            self._pool.kill(self._proc)
            return
        for msg in msgs:
            self._pool._received(self._proc, msg)


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        table: FlagTable,
        *,
        on_message: OnMessage,
        on_death: OnDeath,
        on_ready: Callable[[Proc], None] | None = None,
    ) -> None:
        self._settings = settings
        self._table = table
        self._on_message = on_message
        self._on_death = on_death
        self._on_ready = on_ready
        self._mp = multiprocess.get_context("spawn")
        self._limits = Limits(max_bytes=settings.max_frame_bytes)
        self._stopping = False
        self._crashes: list[float] = []
        self._ready_waiters: list[asyncio.Future[None]] = []
        t = settings.threads
        self.procs = [Proc(i, range(i * t, (i + 1) * t)) for i in range(settings.processes)]

    # -- life cycle ----------------------------------------------------------------

    async def start(self, timeout: float = 60.0) -> None:
        for i in range(len(self.procs)):
            await self._spawn(i)
        await asyncio.wait_for(self._all_ready(), timeout)

    async def _all_ready(self) -> None:
        while not all(p.ready for p in self.procs):
            fut = asyncio.get_running_loop().create_future()
            self._ready_waiters.append(fut)
            await fut

    async def _spawn(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        old = self.procs[index]
        proc = Proc(index, old.slots)
        self.procs[index] = proc
        parent, child = socket.socketpair()
        process = self._mp.Process(
            target=child_main,
            args=(
                child,
                self._table.name,
                s.threads,
                str(s.state_dir),
                s.diag_jobs,
                s.max_frame_bytes,
                s.log_level,
                s.backend_config(),
            ),
            name=f"sazinka-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        proc.process = process
        proc.pid = process.pid
        transport, _ = await loop.create_unix_connection(
            lambda: _ChildProtocol(self, proc, self._limits), sock=parent
        )
        proc.transport = transport
        loop.add_reader(process.sentinel, self._sentinel_fired, proc)
        if self._stopping:  # the pool began stopping while this one was starting
            self.send(proc, {"t": "stop"})
        log.info(
            "worker %d started (pid %d, slots %d..%d)",
            index,
            proc.pid,
            proc.slots[0],
            proc.slots[-1],
        )

    def _received(self, proc: Proc, msg: Any) -> None:
        if not isinstance(msg, dict):
            log.error("worker %d sent a non-map message; killing it", proc.pid)
            self.kill(proc)
            return
        if msg.get("t") == "hello":
            proc.ready = True
            waiters, self._ready_waiters = self._ready_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            if self._on_ready is not None:
                self._on_ready(proc)
            return
        self._on_message(proc, msg)

    def _sentinel_fired(self, proc: Proc) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(proc.process.sentinel)
        # The sentinel closes a moment before the kernel lets us reap the child;
        # it is exiting, so this blocking join is short.
        proc.process.join(5.0)
        how = describe_exit(proc.process.exitcode)
        proc.alive = False
        proc.ready = False
        if proc.transport is not None:
            proc.transport.close()
        if not self._stopping:
            log.error("worker %d (pid %d) %s", proc.index, proc.pid, how)
        self._on_death(proc, how)
        proc.busy.clear()
        proc.process.close()
        if not self._stopping:
            delay = self._backoff(proc)
            loop.call_later(delay, lambda: loop.create_task(self._respawn(proc.index)))
        else:
            waiters, self._ready_waiters = self._ready_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _backoff(self, proc: Proc) -> float:
        """Replace at once, unless workers keep dying young."""
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < 60] + [now]
        if now - proc.started_at > 5 or len(self._crashes) <= 3:
            return 0.0
        return float(min(30.0, 0.25 * 2 ** (len(self._crashes) - 3)))

    async def _respawn(self, index: int) -> None:
        if self._stopping or self.procs[index].alive:
            return
        try:
            await self._spawn(index)
        except Exception:
            log.exception("cannot respawn worker %d; retrying", index)
            asyncio.get_running_loop().call_later(
                1.0, lambda: asyncio.get_running_loop().create_task(self._respawn(index))
            )

    def kill(self, proc: Proc) -> None:
        if proc.alive and proc.process is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.process.kill()

    def begin_stopping(self) -> None:
        """From now on a worker that dies is not replaced."""
        self._stopping = True

    async def stop(self, timeout: float) -> None:
        """Ask every worker to exit; kill those still there after ``timeout``."""
        self._stopping = True
        live = [p for p in self.procs if p.alive]
        for p in live:
            self.send(p, {"t": "stop"})
        deadline = time.monotonic() + timeout
        while any(p.alive for p in self.procs) and time.monotonic() < deadline:
            fut = asyncio.get_running_loop().create_future()
            self._ready_waiters.append(fut)
            try:
                await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        for p in self.procs:
            if p.alive:
                log.warning("worker %d did not stop in time; killing it", p.pid)
                self.kill(p)
        while any(p.alive for p in self.procs):
            fut = asyncio.get_running_loop().create_future()
            self._ready_waiters.append(fut)
            await asyncio.wait_for(fut, 10.0)

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- placement -----------------------------------------------------------------

    def place(self, cpu_bound: bool) -> tuple[Proc, int] | None:
        """A free slot on the least busy ready process; CPU-bound jobs also need a cpu slot."""
        best: Proc | None = None
        limit = self._settings.cpu_slots
        for p in self.procs:
            if not (p.ready and p.free):
                continue
            if cpu_bound and p.cpu_busy >= limit:
                continue
            if best is None or len(p.busy) < len(best.busy):
                best = p
        if best is None:
            return None
        return best, best.free.pop()

    def occupy(self, proc: Proc, slot: int, job_id: str, cpu_bound: bool) -> None:
        proc.busy[slot] = job_id
        if cpu_bound:
            proc.cpu_busy += 1

    def release(self, proc: Proc, slot: int, cpu_bound: bool) -> None:
        if proc.busy.pop(slot, None) is None:
            return
        proc.free.append(slot)
        if cpu_bound:
            proc.cpu_busy -= 1

    def send(self, proc: Proc, msg: dict[str, Any]) -> bool:
        """Queue a frame for ``proc``. Frames queued in one turn of the loop go out
        in one write: a burst of dispatches costs one system call per process."""
        if not proc.alive or proc.transport is None or proc.transport.is_closing():
            return False
        if not proc.outbox:
            asyncio.get_running_loop().call_soon(self._flush, proc)
        proc.outbox.append(encode_frame(msg))
        return True

    @staticmethod
    def _flush(proc: Proc) -> None:
        frames, proc.outbox = proc.outbox, []
        if proc.alive and proc.transport is not None and not proc.transport.is_closing():
            proc.transport.write(b"".join(frames))

    def proc(self, index: int) -> Proc:
        return self.procs[index]

    # -- numbers -------------------------------------------------------------------

    def capacity(self) -> int:
        return sum(len(p.slots) for p in self.procs)

    def busy(self) -> int:
        return sum(len(p.busy) for p in self.procs)

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for p in self.procs:
            try:
                rss = psutil.Process(p.pid).memory_info().rss if p.alive else 0
            except psutil.Error:
                rss = 0
            out.append(
                {
                    "pid": p.pid,
                    "rssBytes": rss,
                    "jobs": len(p.busy),
                    "jobIds": sorted(p.busy.values()),
                    "alive": p.alive,
                }
            )
        return out
