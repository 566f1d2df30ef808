"""The queue: fair across owners, FIFO within an owner.

Owners take turns (round-robin), so one owner's 10,000 queued jobs never starve
another owner's one. Removal is lazy: a cancelled job stays in its owner's
deque until a ``pop`` skips it, so cancelling is O(1).

The supervisor talks to it through :class:`JobQueue`, so a distributed queue
can take its place later.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", bound=Hashable)


class JobQueue(Protocol[T]):
    def push(self, owner: str, item: T) -> None: ...
    def push_front(self, owner: str, item: T) -> None: ...
    def pop(self, alive: Callable[[T], bool]) -> T | None: ...
    def __len__(self) -> int: ...


class FairQueue(Generic[T]):
    __slots__ = ("_len", "_owners")

    def __init__(self) -> None:
        self._owners: OrderedDict[str, deque[T]] = OrderedDict()
        self._len = 0  # entries held, including lazily removed ones

    def push(self, owner: str, item: T) -> None:
        q = self._owners.get(owner)
        if q is None:
            q = self._owners[owner] = deque()
        q.append(item)
        self._len += 1

    def push_front(self, owner: str, item: T) -> None:
        """Back to the head of its owner's line (an interrupted job)."""
        q = self._owners.get(owner)
        if q is None:
            q = self._owners[owner] = deque()
        q.appendleft(item)
        self._len += 1

    def pop(self, alive: Callable[[T], bool]) -> T | None:
        """The next live item, taking owners in turn; dead items are dropped on the way."""
        owners = self._owners
        while owners:
            owner, q = next(iter(owners.items()))
            found: T | None = None
            while q:
                item = q.popleft()
                self._len -= 1
                if alive(item):
                    found = item
                    break
            if q:
                owners.move_to_end(owner)
            else:
                del owners[owner]
            if found is not None:
                return found
        return None

    def compact(self, alive: Callable[[T], bool]) -> None:
        """Drop every dead entry now (after many cancels)."""
        for owner in list(self._owners):
            q = deque(i for i in self._owners[owner] if alive(i))
            if q:
                self._owners[owner] = q
            else:
                del self._owners[owner]
        self._len = sum(len(q) for q in self._owners.values())

    def __len__(self) -> int:
        return self._len

    def owners(self) -> int:
        return len(self._owners)
