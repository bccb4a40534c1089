"""Paced retries per key: the first try is due at once, each failure doubles the wait."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Backoff:
    first: timedelta
    cap: timedelta
    # key -> (when the next try is due, the wait after the next failure)
    _next: dict[str, tuple[datetime, timedelta]] = field(default_factory=dict)

    def due(self, key: str, now: datetime) -> bool:
        entry = self._next.get(key)
        return entry is None or now >= entry[0]

    def failed(self, key: str, now: datetime) -> None:
        wait = self._next[key][1] if key in self._next else self.first
        self._next[key] = (now + wait, min(wait * 2, self.cap))

    def stop(self, key: str) -> None:
        """Never due again (in this process): retrying cannot help."""
        self._next[key] = (datetime.max.replace(tzinfo=UTC), self.cap)

    def succeeded(self, key: str) -> None:
        self._next.pop(key, None)
