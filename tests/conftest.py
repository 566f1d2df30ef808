"""Shared fixtures: a real daemon over the real socket, and leak checks after every test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ipc import list_segments
from worker import Client, LocalDaemon

ROOT = Path(__file__).resolve().parent.parent
ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"
ADMIN = "ad000000-0000-4000-8000-000000000003"
HELPER = "4e1e0000-0000-4000-8000-000000000004"  # a "worker" role employed by ALICE
PATIENCE_S = 60.0  # generous: the machine is noisy


@pytest.fixture(scope="session")
def gazetteer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One offline gazetteer for the whole run, built by whoever needs it first."""
    return tmp_path_factory.getbasetemp() / "gazetteer.sqlite"


@pytest.fixture(autouse=True)
def _share_gazetteer(gazetteer_path: Path) -> None:
    Daemon.gazetteer_path = gazetteer_path


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


class Daemon(LocalDaemon):
    """The test suite's daemon: 2 processes x 8 slots, diag jobs on, fast progress."""

    gazetteer_path: Path | None = None

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        defaults: dict[str, Any] = {
            "processes": 2,
            "threads": 8,
            "diag_jobs": True,
            "progress_interval_ms": 20,
            "shutdown_grace_s": 20,
        }
        if self.gazetteer_path is not None:
            defaults["gazetteer_path"] = self.gazetteer_path
        super().__init__(state_dir, patience_s=PATIENCE_S, **{**defaults, **settings})

    def client(self, sub: str = ALICE, role: Any = "user", owner: str | None = None) -> Client:
        return super().client(sub, role, owner)

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
