"""The supervisor, the pool, the control server, auth, history, journal and CLI."""

from ._auth import Identity, TokenVerifier, ensure_secret, mint, verify
from ._client import Client
from ._config import Settings, load_settings
from ._errors import (
    DeadlineExceeded,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnknownJobType,
    WorkerError,
)
from ._local import LocalDaemon
from ._states import ACTIVE, TERMINAL, TRANSITIONS, JobState

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "Client",
    "DeadlineExceeded",
    "Forbidden",
    "Identity",
    "Internal",
    "InvalidArgument",
    "JobState",
    "LocalDaemon",
    "NotFound",
    "PayloadTooLarge",
    "Settings",
    "TokenVerifier",
    "Unauthorized",
    "Unavailable",
    "UnknownJobType",
    "WorkerError",
    "ensure_secret",
    "load_settings",
    "mint",
    "verify",
]
