"""Time as a dependency: production reads the system clock, tests inject one they control."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a test clock moves its own time instead of waiting."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to; used by tests and by simulations."""

    def __init__(
        self, start: datetime | None = None, *, on_sleep: Callable[[float], None] | None = None
    ) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        # What a sleeper lets happen meanwhile (e.g. a test cluster's rollout moving on).
        self.on_sleep = on_sleep

    def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=seconds))
        if self.on_sleep is not None:
            self.on_sleep(seconds)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


CLOCK_FILE_ENV = "HOTFIX_CLOCK_FILE"


class FileClock:
    """The time written in a file (ISO 8601), re-read on every call.

    For incident drills and for tests that restart the bot process: whoever
    writes the file moves time for every process that reads it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        return parse_iso(self.path.read_text(encoding="utf-8").strip())

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def isoformat(moment: datetime) -> str:
    """The one textual form of a timestamp in the store: UTC, microseconds, sortable."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
