"""systemd's readiness protocol: a datagram to ``$NOTIFY_SOCKET``, when it is set."""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send e.g. ``"READY=1"``; returns whether anyone was listening."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(state.encode())
    except OSError:
        return False
    return True
