"""Geocoders: the offline gazetteer (city level) and Nominatim through geopy.

Both answer :class:`Place` or None (nothing found); a backend that cannot be
reached raises :class:`BackendUnavailable`, one that refuses raises
:class:`BackendError`. Requests are paced by a host-wide rate limiter, with the
sleep the caller gives (``ctx.sleep`` makes the wait cancellable).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._backends import BackendConfig
from ._errors import BackendError, BackendUnavailable
from ._gazetteer import Gazetteer
from ._geo import Point
from ._ratelimit import RateLimiter

Sleep = Callable[[float], object]


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lng: float
    name: str
    precision: str  # "city" (offline) or what the provider says ("house", "street", ...)
    country: str | None = None

    def doc(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lng": self.lng,
            "name": self.name,
            "precision": self.precision,
            "country": self.country,
        }


class Geocoder(Protocol):
    name: str

    def geocode(
        self, query: str, *, country: str | None = None, sleep: Sleep = ...
    ) -> Place | None: ...
    def reverse(self, point: Point, *, sleep: Sleep = ...) -> Place | None: ...


class OfflineGeocoder:
    """City-level answers from the embedded gazetteer; no network, no rate limit."""

    name = "offline gazetteer"

    def __init__(self, path: Path) -> None:
        self._gaz = Gazetteer(path)

    def geocode(
        self, query: str, *, country: str | None = None, sleep: Sleep = time.sleep
    ) -> Place | None:
        hit = self._gaz.find(query, country if country and len(country) == 2 else None)
        if hit is None:
            return None
        name, cc, p = hit
        return Place(p.lat, p.lng, name, "city", cc)

    def reverse(self, point: Point, *, sleep: Sleep = time.sleep) -> Place | None:
        hit = self._gaz.nearest(point)
        if hit is None:
            return None
        name, cc, p, _ = hit
        return Place(p.lat, p.lng, name, "city", cc)


class NominatimGeocoder:
    """A Nominatim-compatible HTTP service through geopy, with retries on timeouts."""

    name = "nominatim"

    def __init__(self, config: BackendConfig) -> None:
        from geopy.geocoders import Nominatim

        scheme, _, domain = config.geocoder_url.partition("://")
        self._geopy = Nominatim(
            user_agent=config.geocoder_user_agent,
            domain=domain.rstrip("/"),
            scheme=scheme,
            timeout=config.backend_timeout_s,
        )
        self._url = config.geocoder_url
        self._retries = config.backend_retries
        self._limiter = RateLimiter(
            config.state_dir / "ratelimit" / "geocoder", config.geocoder_min_interval_s
        )

    def _call(self, fn: Callable[[], Any], sleep: Sleep) -> Any:
        from geopy import exc as gexc

        for attempt in range(self._retries + 1):
            self._limiter.wait(sleep)
            try:
                return fn()
            except gexc.GeocoderServiceError as err:
                # geopy raises the base class itself for network failures (refused,
                # reset); its subclasses name what the service said
                network = type(err) in (
                    gexc.GeocoderServiceError,
                    gexc.GeocoderTimedOut,
                    gexc.GeocoderUnavailable,
                )
                if not network:
                    raise BackendError(f"geocoder at {self._url} refused: {err}") from None
                if attempt == self._retries:
                    raise BackendUnavailable(
                        f"geocoder at {self._url} unreachable: {err}"
                    ) from None
            except gexc.GeopyError as err:
                raise BackendError(f"geocoder at {self._url} failed: {err}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _place(location: Any) -> Place | None:
        if location is None:
            return None
        raw = location.raw or {}
        address = raw.get("address") or {}
        return Place(
            float(location.latitude),
            float(location.longitude),
            str(location.address),
            str(raw.get("addresstype") or raw.get("type") or "unknown"),
            (address.get("country_code") or "").upper() or None,
        )

    def geocode(
        self, query: str, *, country: str | None = None, sleep: Sleep = time.sleep
    ) -> Place | None:
        codes = [country.lower()] if country and len(country) == 2 else None
        return self._place(
            self._call(
                lambda: self._geopy.geocode(
                    query, exactly_one=True, addressdetails=True, country_codes=codes
                ),
                sleep,
            )
        )

    def reverse(self, point: Point, *, sleep: Sleep = time.sleep) -> Place | None:
        return self._place(
            self._call(
                lambda: self._geopy.reverse(
                    (point.lat, point.lng), exactly_one=True, addressdetails=True
                ),
                sleep,
            )
        )


def build_geocoder(config: BackendConfig) -> Geocoder:
    if config.geocoder == "nominatim":
        return NominatimGeocoder(config)
    return OfflineGeocoder(config.gazetteer_path or config.state_dir / "gazetteer.sqlite")
