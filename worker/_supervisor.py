"""The supervisor: one event loop owns the queue, the job records and their
state machine, slot placement, worker messages, progress sampling and the
subscribers. Every command checks the caller against the job's owner here.

Nothing in this module blocks: the journal commits on its own thread and the
workers are reached through the pool's sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ipc import CancelReason, FlagTable
from processors import FileUse, ProcessorSpec, Registry
from processors import UnknownJobType as _UnknownType
from processors._export import export_path

from ._audit import AuditLog
from ._auth import Identity
from ._config import Settings
from ._errors import (
    DeadlineExceeded,
    Forbidden,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    Unavailable,
    UnknownJobType,
    WorkerError,
)
from ._history import JobHistory
from ._hub import Hub, Subscription
from ._jobs import Job
from ._pool import Proc, WorkerPool
from ._queue import FairQueue
from ._states import JobState, can_move
from ._store import JobStore

log = logging.getLogger("sazinka.supervisor")

RECENT_LIMIT = 10_000
RUNNING = (JobState.RUNNING, JobState.CANCELLING)


def _ok(fut: asyncio.Future[None]) -> bool:
    return not fut.cancelled() and fut.exception() is None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: JobStore,
        table: FlagTable,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.history_log = JobHistory(store)
        self.table = table
        self.audit = audit
        self.hub = Hub()
        self._clock = clock
        self._jobs: dict[str, Job] = {}  # every unfinished job
        self._running: dict[str, Job] = {}  # the subset in a slot
        self._recent: OrderedDict[str, Job] = OrderedDict()  # finished lately
        self._queues: dict[bool, FairQueue[str]] = {False: FairQueue(), True: FairQueue()}
        self._queued: set[str] = (
            set()
        )  # ids of live queue entries (removal from the queues is lazy)
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._spool_refs: Counter[str] = Counter()
        self._spool = settings.state_dir / "spool"
        self._accepting = True
        self._dispatching = True
        self._idle: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pool = WorkerPool(
            settings,
            table,
            on_message=self._on_message,
            on_death=self._on_death,
            on_ready=lambda _p: self._dispatch(),
        )

    # ======================================================================
    # life cycle
    # ======================================================================

    async def start(self) -> None:
        self._spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._recover()
        await self.pool.start()
        self._spawn_task(self._sample_progress())
        self._spawn_task(self._prune_history())
        self._dispatch()

    async def shutdown(self) -> None:
        """Stop taking jobs, let atomic ones finish, stop the rest at their next
        checkpoint and put them back in the queue, then stop the workers."""
        self._accepting = False
        self._dispatching = False
        self.pool.begin_stopping()
        for job in list(self._running.values()):
            if job.cancellable and job.slot is not None:
                self.table.request_cancel(job.slot, CancelReason.SHUTDOWN)
        if self._running:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), self.settings.shutdown_grace_s)
            except TimeoutError:
                log.warning("%d job(s) still running after the grace period", len(self._running))
        await self.pool.stop(timeout=5.0)
        self.hub.close_all()
        for task in list(self._tasks):
            task.cancel()
        for job_id in list(self._waiters):
            self._resolve_waiters(job_id)

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self) -> None:
        """Jobs the journal holds from a previous run: queued ones run; running ones
        run again if their type is safe to rerun, else fail as interrupted;
        cancelling ones end cancelled."""
        jobs = self.store.recover()
        for job in jobs:
            spec = self.registry.get(job.type) if job.type in self.registry else None
            if job.file:
                self._spool_refs[job.file] += 1
            self._jobs[job.id] = job
            if spec is None:
                self._end(
                    job,
                    JobState.FAILED,
                    {"type": "failed", "error": "unknown_job_type"},
                    f"job type {job.type} is not enabled",
                )
                continue
            try:
                self._classify(job, spec, spec.payload_model.model_validate(job.payload))
            except ValidationError as exc:
                self._end(
                    job,
                    JobState.FAILED,
                    {"type": "failed", "error": _describe(exc)},
                    "invalid payload",
                )
                continue
            if job.state is JobState.QUEUED:
                self._enqueue(job)
            elif job.state is JobState.CANCELLING:
                # CANCELLING -> CANCELLED: it was asked to stop and its worker is gone
                self._end(job, JobState.CANCELLED, spec.cancelled_status())
            elif job.state is JobState.RUNNING:
                if spec.rerun_safe:
                    self._move(job, JobState.QUEUED)  # RUNNING -> QUEUED: rerun after a crash
                    self._journal(self.store.save(job))
                    self._enqueue(job)
                else:
                    self._end(
                        job,
                        JobState.FAILED,
                        {"type": "failed", "error": "interrupted"},
                        "interrupted",
                    )
        self._sweep_spool()
        if jobs:
            log.info("recovered %d unfinished job(s); %d queued", len(jobs), len(self._queued))

    def _sweep_spool(self) -> None:
        for path in self._spool.iterdir():
            if str(path) not in self._spool_refs:
                path.unlink(missing_ok=True)

    # ======================================================================
    # the state machine
    # ======================================================================

    def _move(self, job: Job, new: JobState) -> None:
        if not can_move(job.state, new):
            raise IllegalTransition(f"job {job.id}: {job.state} -> {new} is not allowed")
        job.state = new

    def _classify(self, job: Job, spec: ProcessorSpec, payload: BaseModel) -> None:
        job.cpu_bound = bool(spec.cpu_bound(payload))
        job.cancellable = spec.cancellable_while_running
        job.rerun_safe = spec.rerun_safe

    def _enqueue(self, job: Job, *, front: bool = False) -> None:
        q = self._queues[job.cpu_bound]
        (q.push_front if front else q.push)(job.owner, job.id)
        self._queued.add(job.id)

    def _dispatch(self) -> None:
        """Fill free slots from the queues. Runs on the loop, so a job is either
        still queued (and a cancel removes it) or already has its slot."""
        if not self._dispatching or not self._queued:
            return
        for cpu in (False, True):
            q = self._queues[cpu]
            while len(q):
                placed = self.pool.place(cpu)
                if placed is None:
                    break
                job_id = q.pop(self._queued.__contains__)
                if job_id is None:
                    proc, slot = placed
                    proc.free.append(slot)
                    break
                self._queued.discard(job_id)
                self._start(self._jobs[job_id], *placed)

    def _start(self, job: Job, proc: Proc, slot: int) -> None:
        self._move(job, JobState.RUNNING)  # QUEUED -> RUNNING
        job.proc, job.slot = proc.index, slot
        job.gen = self.table.arm(slot)
        job.seq = 0
        job.phase = None
        job.started_at = self._clock()
        job.attempts += 1
        self.pool.occupy(proc, slot, job.id, job.cpu_bound)
        self._running[job.id] = job
        msg = {
            "t": "run",
            "slot": slot,
            "gen": job.gen,
            "job": job.id,
            "type": job.type,
            "owner": job.owner,
            "payload": job.payload,
            "file": job.file,
        }
        if job.rerun_safe:
            # Found "queued" after a crash, it would simply run again: no need to wait.
            self.pool.send(proc, msg)
        else:
            self._spawn_task(self._start_durably(job, proc, msg))
        self._publish(job)

    async def _start_durably(self, job: Job, proc: Proc, msg: dict[str, Any]) -> None:
        """A job that must not run twice starts only once ``running`` is on disk."""
        try:
            await self.store.save(job)
        except WorkerError as exc:
            if job.id in self._running and job.gen == msg["gen"]:
                self._end(job, JobState.FAILED, {"type": "failed", "error": str(exc)}, "journal")
                self._dispatch()
            return
        if job.id in self._running and job.gen == msg["gen"] and proc.alive:
            self.pool.send(proc, msg)

    def _end(
        self, job: Job, state: JobState, status: dict[str, Any], error: str | None = None
    ) -> asyncio.Future[None]:
        """Move to a terminal state, free everything, journal it; publish once durable."""
        was_cancelling = job.state is JobState.CANCELLING
        self._move(job, state)
        self._queued.discard(job.id)
        job.status = status
        job.error = error if error is not None else status.get("error")
        job.finished_at = self._clock()
        self._release(job)
        self._jobs.pop(job.id, None)
        self._recent[job.id] = job
        if len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)
        if job.file:
            self._unref_spool(job.file)
        fut = self.history_log.record(job)
        fut.add_done_callback(lambda f: self._finished_durably(job, f))
        saved = job.cancel_saved
        if state is JobState.CANCELLED and was_cancelling and saved is not None:
            # Once "cancelling" is on disk, even a crash now ends this job cancelled
            # (recovery turns cancelling into cancelled): announce it without
            # waiting for this commit.
            if saved.done():
                if _ok(saved):
                    self._announce(job)
            else:
                saved.add_done_callback(lambda f: self._announce(job) if _ok(f) else None)
        return fut

    def _finished_durably(self, job: Job, fut: asyncio.Future[None]) -> None:
        if not _ok(fut):
            log.critical(
                "job %s ended %s but the journal failed: %s", job.id, job.state, fut.exception()
            )
        self._announce(job)

    def _announce(self, job: Job) -> None:
        """The terminal document goes to subscribers and waiters, once."""
        if job.announced:
            return
        job.announced = True
        self._publish(job)
        self._resolve_waiters(job.id)

    @staticmethod
    def _journal(fut: asyncio.Future[None]) -> None:
        """A journal write nobody waits for: its failure is logged, not lost."""

        def check(f: asyncio.Future[None]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.critical("journal write failed: %s", f.exception())

        fut.add_done_callback(check)

    def _release(self, job: Job) -> None:
        self._running.pop(job.id, None)
        if job.proc is not None and job.slot is not None:
            self.pool.release(self.pool.proc(job.proc), job.slot, job.cpu_bound)
        job.proc = job.slot = None
        if self._idle is not None and not self._running:
            self._idle.set()

    def _unref_spool(self, path: str) -> None:
        self._spool_refs[path] -= 1
        if self._spool_refs[path] <= 0:
            del self._spool_refs[path]
            Path(path).unlink(missing_ok=True)

    # ======================================================================
    # messages from workers
    # ======================================================================

    def _on_message(self, proc: Proc, msg: dict[str, Any]) -> None:
        job = self._running.get(str(msg.get("job")))
        if (
            job is None
            or job.proc != proc.index
            or job.slot != msg.get("slot")
            or job.gen != msg.get("gen")
        ):
            log.warning("stale or foreign message from worker %d: %.200r", proc.pid, msg)
            return
        kind = msg.get("t")
        if kind == "phase":
            job.phase = {"progress": int(msg.get("percent", 0)), "message": str(msg.get("key", ""))}
            self._publish(job)
        elif kind == "done":
            status = msg.get("status")
            if not isinstance(status, dict):
                status = {"type": "failed", "error": "the worker sent no status"}
            self._job_done(job, str(msg.get("outcome")), status)
            self._dispatch()
        else:
            log.warning("unknown message from worker %d: %.200r", proc.pid, msg)

    def _job_done(self, job: Job, outcome: str, status: dict[str, Any]) -> None:
        if outcome == "interrupted" and job.state is JobState.RUNNING:
            # RUNNING -> QUEUED: stopped by a shutdown; it runs again after the next start
            self._release(job)
            self._move(job, JobState.QUEUED)
            self._journal(self.store.save(job))
            self._enqueue(job, front=True)
            self._publish(job)
        elif outcome in ("cancelled", "interrupted"):
            if job.state is JobState.RUNNING:  # a flag nobody raised for a user: treat as asked
                self._move(job, JobState.CANCELLING)
            self._end(job, JobState.CANCELLED, status)
        elif outcome == "completed":
            self._end(job, JobState.COMPLETED, status)
        else:
            self._end(job, JobState.FAILED, status)

    def _on_death(self, proc: Proc, how: str) -> None:
        """A worker process died: each of its jobs ends now and its owner can see why."""
        for slot, job_id in list(proc.busy.items()):
            job = self._running.get(job_id)
            if job is None:
                continue
            spec = self.registry.get(job.type)
            _, processed, total = self.table.sample(slot)
            if job.state is JobState.CANCELLING:
                # CANCELLING -> CANCELLED: it was told to stop and it has stopped
                self._end(job, JobState.CANCELLED, spec.cancelled_status(processed, total))
            elif self.pool.stopping and job.cancellable:
                # RUNNING -> QUEUED: killed by the shutdown; interruptible, so it runs again
                self._release(job)
                self._move(job, JobState.QUEUED)
                self._journal(self.store.save(job))
                self._enqueue(job, front=True)
            else:
                error = "interrupted" if self.pool.stopping else "worker_lost"
                detail = f"worker process {proc.pid} {how}"
                self._end(
                    job, JobState.FAILED, {"type": "failed", "error": error, "detail": detail}
                )
        if not self.pool.stopping:
            self._dispatch()

    # ======================================================================
    # commands (each checks the caller against the owner)
    # ======================================================================

    @staticmethod
    def _visible(ident: Identity, job: Job) -> bool:
        return ident.is_admin or job.owner == ident.data_user_id

    def _lookup(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id) or self._recent.get(job_id) or self.store.finished(job_id)

    def _find(self, ident: Identity, job_id: str) -> Job:
        """A job the caller may see. A stranger's job looks exactly like no job."""
        job = self._lookup(job_id)
        if job is None or not self._visible(ident, job):
            raise NotFound(f"no job {job_id}")
        return job

    def _spec(self, job_type: str) -> ProcessorSpec:
        try:
            return self.registry.get(job_type)
        except _UnknownType:
            raise UnknownJobType(
                f"unknown job type {job_type!r}; known: {', '.join(self.registry.names())}"
            ) from None

    def _doc(self, job: Job) -> dict[str, Any]:
        progress = None
        if job.slot is not None:
            _, processed, total = self.table.sample(job.slot)
            progress = (processed, total)
        return job.status_doc(progress)

    def _publish(self, job: Job) -> None:
        if self.hub.watched(job.owner):
            self.hub.publish(job.owner, job.id, self._doc(job))

    async def submit(
        self,
        ident: Identity,
        job_type: str,
        payload: dict[str, Any],
        file: bytes | None,
        count: int | None,
    ) -> dict[str, Any]:
        """Queue one job, or ``count`` identical ones (then the answer lists ``jobIds``)."""
        if not self._accepting:
            raise Unavailable("the supervisor is shutting down", key="errors:shutting_down")
        spec = self._spec(job_type)
        many = count is not None
        count = 1 if count is None else count
        if not 1 <= count <= self.settings.max_submit_count:
            raise InvalidArgument(f"count must be between 1 and {self.settings.max_submit_count}")
        if spec.file is FileUse.REQUIRED and file is None:
            raise InvalidArgument(f"{job_type} needs a file (--file)", key="jobs:file_required")
        if spec.file is FileUse.NONE and file is not None:
            raise InvalidArgument(f"{job_type} takes no file")
        try:
            model = spec.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidArgument(f"invalid payload for {job_type}: {_describe(exc)}") from None
        canonical = model.model_dump(mode="json")
        now = self._clock()
        path = await self._write_spool(file) if file is not None else None
        owner = ident.data_user_id
        jobs = []
        for _ in range(count):
            job = Job(
                id=str(uuid.uuid4()),
                owner=owner,
                type=job_type,
                payload=canonical,
                submitted_at=now,
                file=path,
            )
            self._classify(job, spec, model)
            jobs.append(job)
        try:
            await self.store.add(jobs)
        except WorkerError:
            if path:
                Path(path).unlink(missing_ok=True)
            raise
        for job in jobs:
            self._jobs[job.id] = job
            self._enqueue(job)
            if path:
                self._spool_refs[path] += 1
            self._publish(job)
        self._dispatch()
        if not many:
            return {"jobId": jobs[0].id, "jobType": job_type, "state": "queued"}
        return {"jobIds": [j.id for j in jobs], "jobType": job_type, "state": "queued"}

    async def _write_spool(self, data: bytes) -> str:
        path = self._spool / f"{uuid.uuid4()}.upload"
        full = self.settings.journal_sync == "full"

        def write() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "wb") as f:
                f.write(data)
                f.flush()
                if full:
                    os.fsync(f.fileno())

        await asyncio.get_running_loop().run_in_executor(None, write)
        return str(path)

    async def cancel(self, ident: Identity, job_id: str, peer: dict[str, Any]) -> dict[str, Any]:
        job = self._lookup(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if not self._visible(ident, job):
            self.audit.record(
                "cancel_forbidden",
                caller=ident.sub,
                caller_data_user=ident.data_user_id,
                role=ident.role,
                job=job_id,
                peer=peer,
            )
            raise Forbidden("you can only cancel your own jobs", key="jobs:cancel_forbidden")
        state = job.state
        if state is JobState.QUEUED:
            # QUEUED -> CANCELLED: it never starts
            spec = self.registry.get(job.type)
            await self._end(job, JobState.CANCELLED, spec.cancelled_status())
            return self._cancel_reply(job, "cancelled", "jobs:cancelled_by_user")
        if state is JobState.RUNNING:
            if not job.cancellable:
                return self._cancel_reply(job, "not_cancellable", "jobs:not_cancellable")
            # RUNNING -> CANCELLING: the flag goes up now; the job stops at its next check
            self._move(job, JobState.CANCELLING)
            job.cancel_requested_at = self._clock()
            assert job.slot is not None
            self.table.request_cancel(job.slot, CancelReason.REQUESTED)
            self._publish(job)
            job.cancel_saved = self.store.save(job)
            await job.cancel_saved
            return self._cancel_reply(job, "cancel_requested", "jobs:cancel_requested")
        if state is JobState.CANCELLING:
            return self._cancel_reply(job, "cancel_requested", "jobs:cancel_requested")
        return self._cancel_reply(job, "already_finished", "jobs:already_finished")

    @staticmethod
    def _cancel_reply(job: Job, outcome: str, key: str) -> dict[str, Any]:
        return {"jobId": job.id, "outcome": outcome, "message": key, "state": job.state.value}

    def status(self, ident: Identity, job_id: str) -> dict[str, Any]:
        return self._doc(self._find(ident, job_id))

    async def wait(self, ident: Identity, job_id: str, timeout: float | None) -> dict[str, Any]:
        job = self._find(ident, job_id)
        if not job.state.terminal:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(job_id, []).append(fut)
            try:
                await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise DeadlineExceeded(f"job {job_id} is still {job.state}") from None
            finally:
                waiters = self._waiters.get(job_id)
                if waiters and fut in waiters:
                    waiters.remove(fut)
            job = self._lookup(job_id) or job
            if not job.state.terminal:  # woken by the shutdown, not by the job
                raise Unavailable("the supervisor is stopping", key="errors:shutting_down")
        return self._doc(job)

    def _resolve_waiters(self, job_id: str) -> None:
        for fut in self._waiters.pop(job_id, []):
            if not fut.done():
                fut.set_result(None)

    def jobs_of(self, ident: Identity) -> dict[str, Any]:
        mine = [j for j in self._jobs.values() if self._visible(ident, j)]
        mine.sort(key=lambda j: j.submitted_at)
        return {"jobs": [self._doc(j) for j in mine]}

    async def history(self, ident: Identity, limit: int) -> dict[str, Any]:
        # A job announced as finished may still be on its way to disk: read after it.
        await self.store.drain()
        return self.history_log.get_recent_for_user(
            None if ident.is_admin else ident.data_user_id, limit
        )

    def watch(
        self, ident: Identity, job_ids: list[str]
    ) -> tuple[Subscription, list[dict[str, Any]]]:
        """Subscribe to the caller's jobs (all of them, or the ones named)."""
        owner = None if ident.is_admin else ident.data_user_id
        if job_ids:
            jobs = [self._find(ident, j) for j in job_ids]
        else:
            jobs = sorted(
                (j for j in self._jobs.values() if self._visible(ident, j)),
                key=lambda j: j.submitted_at,
            )
        sub = self.hub.subscribe(owner, job_ids or None)
        return sub, [self._doc(j) for j in jobs]

    async def fetch(self, ident: Identity, job_id: str, offset: int, length: int) -> dict[str, Any]:
        """A piece of a finished export's ZIP, for its owner only."""
        job = self._find(ident, job_id)
        if job.type != "export":
            raise InvalidArgument(f"job {job_id} is a {job.type}; only an export has a file")
        if job.state is not JobState.COMPLETED:
            raise InvalidArgument(
                f"the export is {job.state}; only a completed one can be fetched",
                key="jobs:fetch_not_ready",
            )
        path = export_path(self.settings.state_dir, job.owner, job.id)

        def read() -> tuple[bytes, int]:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(offset)
                return f.read(length), size

        try:
            data, size = await asyncio.get_running_loop().run_in_executor(None, read)
        except FileNotFoundError:
            raise NotFound(f"the file of export {job_id} is gone (expired)") from None
        return {"data": data, "offset": offset, "size": size, "eof": offset + len(data) >= size}

    def stats(self, ident: Identity) -> dict[str, Any]:
        if not ident.is_admin:
            raise Forbidden("stats is for admins", key="errors:admin_only")
        return {
            "slots": self.pool.capacity(),
            "busy": self.pool.busy(),
            "queued": len(self._queued),
            "processes": self.pool.describe(),
            "accepting": self._accepting,
            "waiters": sum(len(w) for w in self._waiters.values()),
            "watchers": self.hub.count(),
        }

    # ======================================================================
    # background
    # ======================================================================

    async def _sample_progress(self) -> None:
        """Publish progress read from shared memory, only when it changed and only
        to owners somebody is watching."""
        interval = self.settings.progress_interval_ms / 1000
        sample = self.table.sample
        while True:
            await asyncio.sleep(interval)
            if not self.hub:
                continue
            for job in list(self._running.values()):
                if job.slot is None or not self.hub.watched(job.owner):
                    continue
                seq, processed, total = sample(job.slot)
                if seq != job.seq:
                    job.seq = seq
                    self.hub.publish(job.owner, job.id, job.status_doc((processed, total)))

    async def _prune_history(self) -> None:
        """Hourly: history beyond its bounds, and export files as old as that."""
        s = self.settings
        max_age_s = s.history_retention_days * 86400
        while True:
            try:
                await self.store.prune(max_age_s=max_age_s, max_entries=s.history_max_entries)
            except WorkerError as exc:
                log.error("history pruning failed: %s", exc)
            cutoff = time.time() - max_age_s
            for path in (s.state_dir / "exports").glob("*/*.zip"):
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
            await asyncio.sleep(3600)
