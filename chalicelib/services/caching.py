"""A small in-process cache whose entries live TERRALESS_TOKEN_CACHE_SECONDS (5 s): Lambda
containers are reused, so what every request reads first (its token, its organization's key)
costs one read per few seconds, not one per request. Changes made in this process drop their
entries at once; other processes see them within the TTL."""
from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

from ..config import settings

V = TypeVar("V")
MAX_ENTRIES = 10_000


class TtlCache(Generic[V]):
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, key: str, value: V, ttl: float | None = None) -> None:
        """`ttl` shortens the configured lifetime (never lengthens it)."""
        ttl = settings().token_cache_seconds if ttl is None else min(ttl, settings().token_cache_seconds)
        if ttl > 0:
            with self._lock:
                if len(self._entries) > MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (time.monotonic() + ttl, value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
