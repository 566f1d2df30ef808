"""Configuration: a TOML file, then ``SAZINKA_<KEY>`` environment variables, which win."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, ValidationError, model_validator

from processors import BackendConfig

from ._errors import InvalidArgument

ENV_PREFIX = "SAZINKA_"
CONFIG_ENV = "SAZINKA_CONFIG"


def _default_state_dir() -> Path:
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    return Path.cwd() / "var"


class Settings(BackendConfig):
    """Every key of the daemon. The backend keys (geocoder, router, mailer, sms and
    their options) are declared by :class:`processors.BackendConfig`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(default_factory=_default_state_dir)
    socket: Path | None = None
    processes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    threads: int = Field(default=32, ge=1, le=2048)
    cpu_slots: int = Field(default=1, ge=1)
    secret_file: Path | None = None
    diag_jobs: bool = False
    cancel_grace_s: float = Field(default=30.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, gt=0)
    max_frame_bytes: int = Field(default=64 * 1024 * 1024, ge=4096, le=2**31)
    frame_timeout_s: float = Field(default=30.0, gt=0)
    max_submit_count: int = Field(default=10_000, ge=1)
    history_retention_days: float = Field(default=30.0, gt=0)
    history_max_entries: int = Field(default=100_000, ge=100)
    journal_sync: Literal["normal", "full"] = "normal"
    progress_interval_ms: int = Field(default=100, ge=5, le=60_000)
    audit_log: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _derive_paths(self) -> Self:
        if self.cpu_slots > self.threads:
            raise ValueError("cpu_slots cannot exceed threads")
        d = self.state_dir
        object.__setattr__(self, "state_dir", d.absolute())
        for name, default in (
            ("socket", "control.sock"),
            ("secret_file", "jwt.secret"),
            ("audit_log", "audit.log"),
        ):
            value = getattr(self, name)
            object.__setattr__(self, name, (value or self.state_dir / default).absolute())
        return self

    # The validator fills these in; give callers non-optional types.
    @property
    def socket_path(self) -> Path:
        assert self.socket is not None
        return self.socket

    @property
    def secret_path(self) -> Path:
        assert self.secret_file is not None
        return self.secret_file

    @property
    def audit_path(self) -> Path:
        assert self.audit_log is not None
        return self.audit_log

    @property
    def slots(self) -> int:
        return self.processes * self.threads

    def backend_config(self) -> dict[str, Any]:
        """What the worker processes need to build their backends."""
        return self.model_dump(include=set(BackendConfig.model_fields))


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            out[name] = value
    return out


def load_settings(
    config_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """File, then environment, then explicit overrides (command-line flags)."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = config_file or env.get(CONFIG_ENV)
    if path:
        try:
            with open(path, "rb") as f:
                data.update(tomllib.load(f))
        except OSError as exc:
            raise InvalidArgument(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"config file {path} is not valid TOML: {exc}") from None
    data.update(_from_env(env))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidArgument(f"bad configuration: {problems}") from None
