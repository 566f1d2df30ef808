"""Hostile clients on the real socket: bad frames and bad tokens cost nothing else."""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import jwt
import msgpack
import pytest

from ipc import Limits, encode_frame, read_frame
from worker import Unauthorized

from .conftest import ALICE, Daemon

pytestmark = pytest.mark.integration


def _raw(daemon: Daemon) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(str(daemon.socket))
    return s


def _answer(s: socket.socket) -> dict[str, Any]:
    msg = read_frame(s, Limits(), timeout=60, idle_timeout=60)
    assert isinstance(msg, dict)
    return msg


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _patiently(condition: Callable[[], bool], rounds: int = 10_000) -> bool:
    """A patience loop: each round is a round trip to the daemon, never a sleep."""
    return any(condition() for _ in range(rounds))


def _still_serves(daemon: Daemon) -> None:
    with daemon.client() as c:
        job = c.submit("diag.spin", {"iterations": 10})["jobId"]
        assert c.wait(job, timeout=60)["state"] == "completed"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x00\x00\x00\x00", "INVALID_ARGUMENT"),
        (struct.pack(">I", 2**31), "PAYLOAD_TOO_LARGE"),
        (struct.pack(">I", 1) + b"\xc1", "INVALID_ARGUMENT"),
        (encode_frame([1, 2, 3]), "INVALID_ARGUMENT"),
        (encode_frame({"op": "format_disk"}), "INVALID_ARGUMENT"),
        (encode_frame({"op": "status", "args": {"jobId": 7}}), "INVALID_ARGUMENT"),
        (_frame(msgpack.packb(msgpack.ExtType(1, b"x"))), "INVALID_ARGUMENT"),
        (_frame(msgpack.packb({1: "int key"})), "INVALID_ARGUMENT"),
        (_frame(b"\x91" * 3000 + b"\x00"), "INVALID_ARGUMENT"),
    ],
)
def test_a_bad_frame_gets_a_clear_error_and_nothing_else(
    daemon: Daemon, raw: bytes, code: str
) -> None:
    with _raw(daemon) as s:
        s.sendall(raw)
        answer = _answer(s)
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    _still_serves(daemon)


def test_a_truncated_frame_and_a_hangup_cost_nothing(daemon: Daemon) -> None:
    with _raw(daemon) as s:
        s.sendall(struct.pack(">I", 100) + b"\x81")
    with _raw(daemon) as s:
        s.sendall(b"\x00\x00")
    _still_serves(daemon)


def test_a_connection_survives_a_request_error(daemon: Daemon) -> None:
    token = daemon.token(ALICE)
    with _raw(daemon) as s:
        s.sendall(encode_frame({"id": 1, "op": "status", "token": token, "args": {"jobId": "x"}}))
        assert _answer(s)["error"]["code"] == "INVALID_ARGUMENT"
        s.sendall(encode_frame({"id": 2, "op": "ping"}))
        answer = _answer(s)
    assert answer["id"] == 2 and answer["ok"]["protocol"] == 1


def _forge(claims: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _alg_none(claims: dict[str, Any]) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def test_bad_tokens_are_refused(daemon: Daemon) -> None:
    secret = (daemon.state_dir / "jwt.secret").read_bytes().strip()
    now = int(time.time())
    good = {"sub": ALICE, "role": "user", "iat": now, "exp": now + 60}
    bad_tokens = {
        "expired": _forge({**good, "iat": now - 100, "exp": now - 10}, secret),
        "alg none": _alg_none(good),
        "foreign key": _forge(good, b"x" * 32),
        "no exp": _forge({k: v for k, v in good.items() if k != "exp"}, secret),
        "no role": _forge({k: v for k, v in good.items() if k != "role"}, secret),
        "no sub": _forge({k: v for k, v in good.items() if k != "sub"}, secret),
        "unknown role": _forge({**good, "role": "root"}, secret),
        "worker without owner": _forge({**good, "role": "worker"}, secret),
        "sub not a uuid": _forge({**good, "sub": "alice"}, secret),
        "HS512": _forge(good, secret, "HS512"),
        "garbage": "not.a.token",
        "empty": "",
    }
    for why, token in bad_tokens.items():
        with daemon.client() as c:
            c.token = token
            with pytest.raises(Unauthorized):
                c.submit("diag.spin", {"iterations": 1})
            assert why
    _still_serves(daemon)


def test_a_client_that_leaves_a_wait_leaves_no_waiter(daemon: Daemon) -> None:
    token = daemon.token(ALICE)
    with daemon.client() as c:
        job = c.submit("diag.spin", {"iterations": 10**9})["jobId"]
    with _raw(daemon) as s, daemon.client(role="admin") as admin:
        s.sendall(encode_frame({"id": 1, "op": "wait", "token": token, "args": {"jobId": job}}))
        assert _patiently(lambda: admin.call("stats")["waiters"] == 1)
        s.close()
        assert _patiently(lambda: admin.call("stats")["waiters"] == 0)
    with daemon.client() as c:
        c.cancel(job)
        assert c.wait(job, timeout=60)["state"] == "cancelled"


def test_requests_after_a_wait_on_the_same_connection(daemon: Daemon) -> None:
    with daemon.client() as c:
        job = c.submit("diag.spin", {"iterations": 10})["jobId"]
        assert c.wait(job, timeout=60)["state"] == "completed"
        assert c.call("ping")["protocol"] == 1  # same connection, after the wait
        assert c.status(job)["state"] == "completed"
