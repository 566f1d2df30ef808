"""The control socket: frames in, owner-checked commands, frames out.

Errors are translated here, once: a :class:`WorkerError` becomes its stable
code on the wire; anything else becomes ``INTERNAL`` and is logged.

Requests on one connection are answered in order. ``wait`` and ``watch`` hold
the connection: the client sends nothing more until they end, and closing the
connection (or sending anything) ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from pathlib import Path
from typing import Any

from ipc import (
    ConnectionClosed,
    EmptyFrame,
    FrameError,
    FrameTimeout,
    FrameTooLarge,
    Limits,
    MalformedFrame,
    TruncatedFrame,
    encode_frame,
    read_frame_async,
)

from ._auth import TokenVerifier
from ._config import Settings
from ._errors import Internal, InvalidArgument, PayloadTooLarge, Unavailable, WorkerError
from ._protocol import (
    PROTOCOL_VERSION,
    FetchArgs,
    HistoryArgs,
    JobArgs,
    Request,
    SubmitArgs,
    WaitArgs,
    WatchArgs,
    parse_request,
)
from ._supervisor import Supervisor

log = logging.getLogger("sazinka.server")

IDLE_TIMEOUT_S = 600.0
_PEERCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket | None) -> dict[str, int]:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return {}
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    except OSError:
        return {}
    pid, uid, gid = _PEERCRED.unpack(raw)
    return {"pid": pid, "uid": uid, "gid": gid}


def prepare_socket_path(path: Path) -> None:
    """Parent directory 0750 (created if missing); a stale socket file removed;
    a live one means another supervisor: refuse."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o750, parents=True)
    mode = stat.S_IMODE(parent.stat().st_mode)
    if mode & 0o007:
        log.warning(
            "socket directory %s is open to others (mode %o); 0750 is advised", parent, mode
        )
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise Unavailable(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: left by a supervisor that died
        else:
            raise Unavailable(f"another supervisor is listening on {path}")
        finally:
            probe.close()


class ControlServer:
    def __init__(self, sup: Supervisor, settings: Settings, verifier: TokenVerifier) -> None:
        self._sup = sup
        self._settings = settings
        self._verify = verifier
        self._limits = Limits(max_bytes=settings.max_frame_bytes)
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self.path = settings.socket_path

    async def start(self) -> None:
        prepare_socket_path(self.path)
        old = os.umask(0o117)  # the socket is born 0660: no window with looser permissions
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- one connection --------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        peer = peer_credentials(writer.get_extra_info("socket"))
        try:
            await self._loop(reader, writer, peer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: dict[str, int]
    ) -> None:
        timeout = self._settings.frame_timeout_s
        while True:
            try:
                msg = await read_frame_async(
                    reader, self._limits, timeout=timeout, idle_timeout=IDLE_TIMEOUT_S
                )
            except (ConnectionClosed, TruncatedFrame, FrameTimeout):
                return
            except FrameTooLarge as exc:
                await self._reply(writer, 0, error=PayloadTooLarge(str(exc)))
                return
            except (EmptyFrame, MalformedFrame, FrameError) as exc:
                await self._reply(writer, 0, error=InvalidArgument(f"bad frame: {exc}"))
                return
            req_id = msg.get("id", 0) if isinstance(msg, dict) else 0
            req_id = req_id if isinstance(req_id, int) else 0
            try:
                req, args = parse_request(msg)
                if req.op == "watch":
                    assert isinstance(args, WatchArgs)
                    await self._watch(req, args, reader, writer)
                    return
                if req.op == "wait":  # may take long: stop waiting if the client leaves
                    handled = asyncio.ensure_future(self._handle(req, args, peer))
                    hangup = asyncio.ensure_future(reader.read(1))
                    await asyncio.wait({handled, hangup}, return_when=asyncio.FIRST_COMPLETED)
                    if not handled.done():
                        handled.cancel()
                        return
                    hangup.cancel()
                    # Let the cancelled read finish before the next frame is read.
                    await asyncio.gather(hangup, return_exceptions=True)
                    result = handled.result()
                else:
                    result = await self._handle(req, args, peer)
            except WorkerError as exc:
                await self._reply(writer, req_id, error=exc)
            except Exception:
                log.exception("request %r failed", msg.get("op") if isinstance(msg, dict) else msg)
                await self._reply(
                    writer, req_id, error=Internal("internal error; see the supervisor log")
                )
            else:
                await self._reply(writer, req_id, ok=result)

    async def _reply(
        self,
        writer: asyncio.StreamWriter,
        req_id: int,
        *,
        ok: Any = None,
        error: WorkerError | None = None,
    ) -> None:
        doc: dict[str, Any] = {"id": req_id}
        if error is not None:
            doc["error"] = error.to_wire()
        else:
            doc["ok"] = ok
        writer.write(encode_frame(doc))
        await writer.drain()

    async def _handle(self, req: Request, args: Any, peer: dict[str, int]) -> Any:
        if req.op == "ping":
            return {"protocol": PROTOCOL_VERSION, "pid": os.getpid()}
        ident = self._verify(req.token)
        sup = self._sup
        match req.op:
            case "submit":
                a: SubmitArgs = args
                return await sup.submit(ident, a.type, a.payload, a.file, a.count)
            case "cancel":
                j: JobArgs = args
                return await sup.cancel(ident, j.jobId, peer)
            case "status":
                j = args
                return sup.status(ident, j.jobId)
            case "wait":
                w: WaitArgs = args
                return await sup.wait(ident, w.jobId, w.timeout)
            case "jobs":
                return sup.jobs_of(ident)
            case "history":
                h: HistoryArgs = args
                return await sup.history(ident, h.limit)
            case "stats":
                return sup.stats(ident)
            case "fetch":
                f: FetchArgs = args
                return await sup.fetch(ident, f.jobId, f.offset, f.length)
        raise InvalidArgument(f"unknown op {req.op}")

    async def _watch(
        self,
        req: Request,
        args: WatchArgs,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Stream status documents of the caller's jobs until the named ones are all
        finished, the client hangs up, or the supervisor stops."""
        ident = self._verify(req.token)
        sub, initial = self._sup.watch(ident, args.jobIds)
        pending = set(args.jobIds) if args.jobIds else None
        hangup = asyncio.ensure_future(reader.read(1))
        try:
            await self._reply(writer, req.id, ok={"watching": len(initial)})
            batch = initial
            while True:
                for doc in batch:
                    writer.write(encode_frame({"id": req.id, "event": doc}))
                    if pending is not None and doc["state"] in ("completed", "failed", "cancelled"):
                        pending.discard(doc["jobId"])
                await writer.drain()
                if pending is not None and not pending:
                    writer.write(encode_frame({"id": req.id, "end": True}))
                    await writer.drain()
                    return
                if sub.closed:
                    await self._reply(
                        writer, req.id, error=Unavailable("the supervisor is stopping")
                    )
                    return
                nxt = asyncio.ensure_future(sub.next_batch())
                done, _ = await asyncio.wait({nxt, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if hangup in done:
                    nxt.cancel()
                    return
                batch = nxt.result()
        finally:
            hangup.cancel()
            self._sup.hub.unsubscribe(sub)
