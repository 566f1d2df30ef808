"""Shared fixtures: a real daemon over the real socket, and leak checks after every test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ipc import list_segments
from worker import Client, ensure_secret, mint

ROOT = Path(__file__).resolve().parent.parent
ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"
ADMIN = "ad000000-0000-4000-8000-000000000003"
HELPER = "4e1e0000-0000-4000-8000-000000000004"  # a "worker" role employed by ALICE
PATIENCE_S = 60.0  # generous: the machine is noisy


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """After every test: no child process left, no shared-memory segment left."""
    segments_before = set(list_segments())
    yield
    me = psutil.Process()
    children = me.children(recursive=True)
    _, alive = psutil.wait_procs(children, timeout=PATIENCE_S)
    for p in alive:
        p.kill()
    assert not alive, f"leaked child processes: {[p.cmdline() for p in alive]}"
    leaked = set(list_segments()) - segments_before
    assert not leaked, f"leaked shared memory: {leaked}"


class Daemon:
    """``sazinka-worker serve`` in a subprocess, on a private state directory."""

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        self.state_dir = state_dir
        self.socket = state_dir / "control.sock"
        self.env = dict(os.environ)
        self.env.update(
            {
                "SAZINKA_STATE_DIR": str(state_dir),
                "SAZINKA_PROCESSES": "2",
                "SAZINKA_THREADS": "8",
                "SAZINKA_DIAG_JOBS": "true",
                "SAZINKA_PROGRESS_INTERVAL_MS": "20",
                "SAZINKA_SHUTDOWN_GRACE_S": "20",
                "SAZINKA_LOG_LEVEL": "INFO",
            }
        )
        for key, value in settings.items():
            self.env[f"SAZINKA_{key.upper()}"] = str(value)
        self.env.pop("SAZINKA_TOKEN", None)
        self.env.pop("SAZINKA_SOCKET", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self._notify: socket.socket | None = None
        self.log = state_dir / "daemon.log"

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> Daemon:
        notify_path = self.state_dir / "notify.sock"
        notify_path.unlink(missing_ok=True)
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        self._notify.settimeout(PATIENCE_S)
        env = dict(self.env, NOTIFY_SOCKET=str(notify_path))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "serve"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.expect_notify("READY=1")
        return self

    def expect_notify(self, state: str) -> None:
        """Block until the daemon says ``state`` on $NOTIFY_SOCKET (an event, not a sleep)."""
        assert self._notify is not None
        while True:
            try:
                msg = self._notify.recv(4096).decode()
            except TimeoutError:
                raise AssertionError(
                    f"no {state} within {PATIENCE_S}s; log:\n{self.tail()}"
                ) from None
            if state in msg.split("\n"):
                return

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.expect_notify("STOPPING=1")
        code = self.proc.wait(PATIENCE_S)
        self._close_notify()
        return code

    def kill(self) -> None:
        """SIGKILL the supervisor: a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(PATIENCE_S)
        self._close_notify()

    def _close_notify(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- clients -----------------------------------------------------------------------

    def token(self, sub: str, role: str = "user", owner: str | None = None, ttl: int = 3600) -> str:
        secret = ensure_secret(self.state_dir / "jwt.secret")
        return mint(secret, sub=sub, role=role, owner_id=owner, ttl_s=ttl)  # type: ignore[arg-type]

    def client(self, sub: str = ALICE, role: str = "user", owner: str | None = None) -> Client:
        return Client(self.socket, self.token(sub, role, owner), timeout=PATIENCE_S)

    def ctl(
        self, *args: str, token: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, SAZINKA_SOCKET=str(self.socket))
        if token:
            env["SAZINKA_TOKEN"] = token
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from worker._ctl import main; sys.exit(main())",
                *args,
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=PATIENCE_S,
            check=False,
        )

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return [
            c.pid
            for c in psutil.Process(self.proc.pid).children()
            if "spawn_main" in " ".join(c.cmdline())
        ]


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short path: AF_UNIX socket paths are limited to ~108 bytes.
    d = Path(tempfile.mkdtemp(prefix="sz-", dir="/tmp"))
    d.chmod(0o750)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_daemon(state_dir: Path) -> Iterator[Callable[..., Daemon]]:
    daemons: list[Daemon] = []

    def make(**settings: Any) -> Daemon:
        d = Daemon(state_dir, **settings)
        daemons.append(d)
        return d.start()

    yield make
    for d in daemons:
        if d.running:
            d.stop()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon()


def watch_until(
    client: Client, job_id: str, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Follow the job's status documents until one satisfies ``predicate``."""
    for doc in client.stream("watch", jobIds=[job_id]):
        if predicate(doc):
            return doc
    raise AssertionError(f"job {job_id} ended without meeting the condition")


def processed_at_least(n: int) -> Callable[[dict[str, Any]], bool]:
    def check(doc: dict[str, Any]) -> bool:
        return doc["status"].get("processed", 0) >= n or doc["state"] in (
            "completed",
            "failed",
            "cancelled",
        )

    return check
