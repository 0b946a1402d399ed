"""Reference data kept in each process: read on every request, changed rarely.

A report looks up its grid among every grid's boundary and its category; reading and parsing
them per request was a fifth of its cost. `ProcessCache` keeps the built value for `seconds`.
The process that changes the data clears it at once (`changed()`, also after the commit);
other processes see the change when their copy expires, so callers also fall back to the
database when the cache does not know a key (a grid or category made moments ago elsewhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar, Generic, TypeVar

from django.db import transaction

T = TypeVar("T")


class ProcessCache(Generic[T]):
    instances: ClassVar[list[ProcessCache]] = []

    def __init__(self, build: Callable[[], T], *, seconds: float) -> None:
        self.build, self.seconds = build, seconds
        self._value: T | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        ProcessCache.instances.append(self)

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() >= self._expires:
                self._value = self.build()
                self._expires = time.monotonic() + self.seconds
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None

    def changed(self) -> None:
        """Call where the data is written: clears now and again once the transaction commits,
        so a request between the two cannot keep the old data."""
        self.clear()
        transaction.on_commit(self.clear)

    @classmethod
    def clear_all(cls) -> None:
        for cache in cls.instances:
            cache.clear()
