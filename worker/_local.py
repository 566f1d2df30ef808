"""A supervisor in a child process, on a private state directory: for tests,
benchmarks and scripts. Readiness comes from the daemon itself over a private
``NOTIFY_SOCKET`` (the systemd protocol), never from a sleep."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._auth import Role, ensure_secret, mint
from ._client import Client


class LocalDaemon:
    def __init__(self, state_dir: Path, *, patience_s: float = 60.0, **settings: Any) -> None:
        self.state_dir = state_dir
        self.socket = state_dir / "control.sock"
        self.patience_s = patience_s
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SAZINKA_")}
        self.env["SAZINKA_STATE_DIR"] = str(state_dir)
        for key, value in settings.items():
            self.env[f"SAZINKA_{key.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "daemon.log"
        self._notify: socket.socket | None = None

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> LocalDaemon:
        self.state_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        notify_path = self.state_dir / "notify.sock"
        notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        self._notify.settimeout(self.patience_s)
        env = dict(self.env, NOTIFY_SOCKET=str(notify_path))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.expect_notify("READY=1")
        return self

    def expect_notify(self, state: str) -> None:
        """Block until the daemon announces ``state`` on its notify socket."""
        assert self._notify is not None
        while True:
            try:
                msg = self._notify.recv(4096).decode()
            except TimeoutError:
                raise RuntimeError(
                    f"the daemon did not say {state} within {self.patience_s}s; log:\n{self.tail()}"
                ) from None
            if state in msg.split("\n"):
                return

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.expect_notify("STOPPING=1")
        code = self.proc.wait(self.patience_s)
        self._close_notify()
        return code

    def kill(self) -> None:
        """SIGKILL the supervisor: a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(self.patience_s)
        self._close_notify()

    def _close_notify(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    # -- clients -------------------------------------------------------------------------

    def token(
        self, sub: str, role: Role = "user", owner: str | None = None, ttl: int = 3600
    ) -> str:
        secret = ensure_secret(self.state_dir / "jwt.secret")
        return mint(secret, sub=sub, role=role, owner_id=owner, ttl_s=ttl)

    def client(self, sub: str, role: Role = "user", owner: str | None = None) -> Client:
        return Client(self.socket, self.token(sub, role, owner), timeout=self.patience_s)
