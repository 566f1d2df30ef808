"""A blocking client for the control socket (used by ``sazinkactl``, tests, bench)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from ipc import ConnectionClosed, FrameError, Limits, read_frame, write_frame

from ._errors import Unavailable, from_wire

DEFAULT_TIMEOUT_S = 30.0


class Client:
    def __init__(
        self,
        path: Path | str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_frame_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = str(path)
        self.token = token
        self.timeout = timeout
        self._limits = Limits(max_bytes=max_frame_bytes)
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
            except OSError as exc:
                s.close()
                raise Unavailable(
                    f"cannot reach the supervisor at {self.path}: {exc.strerror or exc}"
                ) from None
            self._sock = s
        return self._sock

    def _send(self, op: str, args: dict[str, Any]) -> int:
        sock = self._connect()
        req_id = next(self._ids)
        try:
            write_frame(sock, {"id": req_id, "op": op, "token": self.token, "args": args})
        except OSError as exc:
            self.close()
            raise Unavailable(f"the supervisor went away: {exc}") from None
        return req_id

    def _recv(self, idle_timeout: float | None) -> dict[str, Any]:
        assert self._sock is not None
        try:
            msg = read_frame(
                self._sock, self._limits, timeout=self.timeout, idle_timeout=idle_timeout
            )
        except ConnectionClosed:
            self.close()
            raise Unavailable("the supervisor closed the connection") from None
        except (FrameError, OSError) as exc:
            self.close()
            raise Unavailable(f"bad answer from the supervisor: {exc}") from None
        if not isinstance(msg, dict):
            raise Unavailable("bad answer from the supervisor")
        if "error" in msg:
            raise from_wire(msg["error"])
        return msg

    def call(self, op: str, *, idle_timeout: float | None = -1.0, **args: Any) -> Any:
        """One request, one answer. ``idle_timeout`` defaults to the client timeout."""
        self._send(op, args)
        return self._recv(self.timeout if idle_timeout == -1.0 else idle_timeout)["ok"]

    def stream(self, op: str, **args: Any) -> Iterator[dict[str, Any]]:
        """A streaming request (``watch``). Returns once the supervisor acknowledged
        it (so the subscription exists); the iterator yields each event until the end."""
        self._send(op, args)
        self._recv(self.timeout)
        return self._events()

    def _events(self) -> Iterator[dict[str, Any]]:
        while True:
            msg = self._recv(None)
            if msg.get("end"):
                return
            yield msg["event"]

    # -- conveniences ------------------------------------------------------------

    def submit(
        self,
        job_type: str,
        payload: dict[str, Any] | None = None,
        *,
        file: bytes | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """``count`` given (even 1): the answer lists ``jobIds``."""
        args: dict[str, Any] = {"type": job_type, "payload": payload or {}}
        if count is not None:
            args["count"] = count
        if file is not None:
            args["file"] = file
        result: dict[str, Any] = self.call("submit", **args)
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("cancel", jobId=job_id)
        return result

    def status(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("status", jobId=job_id)
        return result

    def fetch(self, job_id: str, dest: Path, chunk: int = 4 * 1024 * 1024) -> int:
        """Download a finished export to ``dest`` (written whole, then renamed)."""
        tmp = dest.with_name(f".{dest.name}.part")
        offset = 0
        try:
            with open(tmp, "wb") as f:
                while True:
                    part = self.call("fetch", jobId=job_id, offset=offset, length=chunk)
                    f.write(part["data"])
                    offset += len(part["data"])
                    if part["eof"]:
                        break
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return offset

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"jobId": job_id}
        if timeout is not None:
            args["timeout"] = timeout
        result: dict[str, Any] = self.call("wait", idle_timeout=None, **args)
        return result
