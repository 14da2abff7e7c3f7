"""Process-local hints: what this process saw recently. They only choose a faster path, never an answer."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable


class RecentKeys:
    """A bounded, thread-safe set whose members expire `ttl_seconds` after they were last added."""

    def __init__(self, ttl_seconds: float, max_size: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_size = max_size
        self._until: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._until[key] = time.monotonic() + self.ttl_seconds
            self._until.move_to_end(key)
            while len(self._until) > self.max_size:
                self._until.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return False
            if until < time.monotonic():
                del self._until[key]
                return False
            return True

    def any_of(self, keys: list[Hashable]) -> bool:
        return any(key in self for key in keys)
