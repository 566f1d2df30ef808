"""JSON over HTTP for the real backends: timeouts, retries, and clear errors."""

from __future__ import annotations

import time
from typing import Any

import httpx

from ._errors import BackendError, BackendUnavailable

_BACKOFF_S = (0.2, 0.5, 1.0, 2.0)


class JsonHttp:
    """One backend's HTTP client. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        retries: int,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._retries = retries
        # No httpx base_url: it would add a slash to an endpoint like ".../send".
        self._client = httpx.Client(timeout=timeout_s, auth=auth, headers=headers or {})

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """The decoded JSON answer. Retries connection failures always, and timeouts
        and 5xx answers only when ``idempotent`` (a second SMS must not go out)."""
        url = f"{self.base_url}{path}"
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._client.request(method, url, json=json, params=params)
            except httpx.ConnectError as exc:
                if last:
                    raise BackendUnavailable(f"{self.name} unreachable at {url}: {exc}") from None
            except httpx.TimeoutException:
                if last or not idempotent:
                    raise BackendUnavailable(
                        f"{self.name} at {url} did not answer in time"
                    ) from None
            except httpx.HTTPError as exc:
                if last or not idempotent:
                    raise BackendUnavailable(f"{self.name} at {url} failed: {exc}") from None
            else:
                if response.status_code >= 500 and idempotent and not last:
                    pass  # retry below
                elif response.status_code >= 400:
                    raise BackendError(
                        f"{self.name} answered {response.status_code}: {response.text[:300]}"
                    )
                else:
                    try:
                        return response.json()
                    except ValueError:
                        raise BackendError(
                            f"{self.name} answered something that is not JSON"
                        ) from None
            time.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._client.close()
