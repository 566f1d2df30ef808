"""Status subscribers. A subscription sees only its owner's jobs (or all, for an admin).

Each subscription coalesces: if a subscriber falls behind, it gets the latest
document of each job rather than a backlog, so a slow ``watch`` cannot make the
supervisor's memory grow. Terminal documents are never followed by another
document for the same job, so they are never lost to coalescing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


class Subscription:
    __slots__ = ("_event", "_pending", "closed", "job_ids", "owner")

    def __init__(self, owner: str | None, job_ids: Iterable[str] | None) -> None:
        self.owner = owner  # None: every owner (admin)
        self.job_ids = frozenset(job_ids) if job_ids else None
        self._pending: dict[str, dict[str, Any]] = {}
        self._event = asyncio.Event()
        self.closed = False

    def wants(self, job_id: str) -> bool:
        return self.job_ids is None or job_id in self.job_ids

    def offer(self, job_id: str, doc: dict[str, Any]) -> None:
        self._pending.pop(job_id, None)  # move to the end: documents go out in change order
        self._pending[job_id] = doc
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def next_batch(self) -> list[dict[str, Any]]:
        """The documents that changed since the last call; empty once closed."""
        await self._event.wait()
        self._event.clear()
        batch = list(self._pending.values())
        self._pending.clear()
        return batch


class Hub:
    __slots__ = ("_all", "_by_owner")

    def __init__(self) -> None:
        self._by_owner: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()

    def subscribe(self, owner: str | None, job_ids: Iterable[str] | None = None) -> Subscription:
        sub = Subscription(owner, job_ids)
        if owner is None:
            self._all.add(sub)
        else:
            self._by_owner.setdefault(owner, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.owner is None:
            self._all.discard(sub)
            return
        subs = self._by_owner.get(sub.owner)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_owner[sub.owner]

    def watched(self, owner: str) -> bool:
        return bool(self._all) or owner in self._by_owner

    def count(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_owner.values())

    def __bool__(self) -> bool:
        return bool(self._all or self._by_owner)

    def publish(self, owner: str, job_id: str, doc: dict[str, Any]) -> None:
        for sub in self._by_owner.get(owner, ()):
            if sub.wants(job_id):
                sub.offer(job_id, doc)
        for sub in self._all:
            if sub.wants(job_id):
                sub.offer(job_id, doc)

    def close_all(self) -> None:
        for subs in self._by_owner.values():
            for sub in subs:
                sub.close()
        for sub in self._all:
            sub.close()
