"""Tokens: HS256 JWTs, verified with PyJWT, and the secret they are signed with."""

from __future__ import annotations

import os
import secrets
import stat
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jwt

from ._errors import InvalidArgument, Unauthorized

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
MAX_TOKEN_BYTES = 8192
Role = Literal["user", "worker", "admin"]
ROLES: tuple[Role, ...] = ("user", "worker", "admin")


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    role: Role
    owner_id: str | None = None

    @property
    def data_user_id(self) -> str:
        """Whose data this token acts on: the employer for a worker, else the subject."""
        if self.role == "worker":
            assert self.owner_id is not None
            return self.owner_id
        return self.sub

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _uuid(value: object, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Unauthorized(f"{what} is not a UUID") from None


def ensure_secret(path: Path) -> bytes:
    """Read the secret, creating it (0600, 48 random bytes, URL-safe text) if missing."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
        raise InvalidArgument(f"secret file {path} is open to others; chmod 600 it")
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidArgument(
            f"secret in {path} is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed"
        )
    return secret


def mint(
    secret: bytes,
    *,
    sub: str,
    role: Role = "user",
    owner_id: str | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}")
    if role == "worker" and not owner_id:
        raise InvalidArgument("role worker needs --owner")
    if ttl_s <= 0:
        raise InvalidArgument("ttl must be positive")
    try:
        sub = str(uuid.UUID(sub))
        owner_id = str(uuid.UUID(owner_id)) if owner_id else None
    except ValueError:
        raise InvalidArgument("sub and owner must be UUIDs") from None
    iat = int(now if now is not None else time.time())
    claims: dict[str, object] = {"sub": sub, "role": role, "iat": iat, "exp": iat + ttl_s}
    if owner_id:
        claims["owner_id"] = owner_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: bytes, token: str) -> tuple[Identity, float]:
    """Return the identity and the token's expiry, or raise :class:`Unauthorized`."""
    if not token:
        raise Unauthorized("no token given")
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized("token too long")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", key="errors:token_expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise Unauthorized(f"unknown role {role!r}")
    sub = _uuid(claims.get("sub"), "sub")
    owner = claims.get("owner_id")
    if role == "worker":
        if owner is None:
            raise Unauthorized("a worker token needs owner_id")
        owner = _uuid(owner, "owner_id")
    else:
        owner = None
    return Identity(sub=sub, role=role, owner_id=owner), float(claims["exp"])


class TokenVerifier:
    """Verifies tokens, remembering recent good ones until they expire."""

    __slots__ = ("_cache", "_clock", "_secret", "_size")

    def __init__(
        self, secret: bytes, *, size: int = 4096, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._cache: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._size = size
        self._clock = clock

    def __call__(self, token: str | None) -> Identity:
        if not token:
            raise Unauthorized("no token given")
        hit = self._cache.get(token)
        if hit is not None:
            ident, exp = hit
            if self._clock() < exp:
                self._cache.move_to_end(token)
                return ident
            del self._cache[token]
            raise Unauthorized("token expired", key="errors:token_expired")
        ident, exp = verify(self._secret, token)
        self._cache[token] = (ident, exp)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return ident
