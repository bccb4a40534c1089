"""Who goes by which name in the workspace: users.list, read page by page, cached.

Slack's users.list is cursor-paginated (`limit`, `cursor`, and
`response_metadata.next_cursor` empty on the last page) and rate-limited (Tier 2),
so the whole list is read at most once per `ttl`, and a name not found in a
fresh copy is not a reason to read it again for a while (`retry_after`): a typo
must not turn into a users.list storm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.clock import Clock

PAGE_SIZE = 200  # Slack recommends no more than 200 results per page
MAX_PAGES = 500  # 100,000 people: past that, a cursor that never ends is a bug
# One page of users.list for a cursor ("" for the first page).
ListPage = Callable[[str], Mapping[str, Any]]


def _names(member: Mapping[str, Any]) -> set[str]:
    """The names a person may be called by with @: handle, display name, real name."""
    profile = member.get("profile") or {}
    candidates = (
        member.get("name"),
        profile.get("display_name"),
        profile.get("display_name_normalized"),
        profile.get("real_name"),
        profile.get("real_name_normalized"),
    )
    return {str(c).strip().lower() for c in candidates if c and str(c).strip()}


class UserDirectory:
    def __init__(
        self,
        list_page: ListPage,
        *,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=30),
        retry_after: timedelta = timedelta(minutes=1),
    ) -> None:
        self._list_page = list_page
        self._clock = clock
        self._ttl = ttl
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._by_name: dict[str, list[str]] = {}
        self._loaded_at: datetime | None = None

    def find(self, name: str) -> list[str]:
        """Ids of the active people who go by `name` (case-insensitive)."""
        key = name.strip().lower()
        with self._lock:
            now = self._clock.now()
            age = None if self._loaded_at is None else now - self._loaded_at
            stale = age is None or age >= self._ttl
            missing = key not in self._by_name and (age is None or age >= self._retry_after)
            if stale or missing:
                self._by_name = self._load()
                self._loaded_at = now
            return list(self._by_name.get(key, []))

    def _load(self) -> dict[str, list[str]]:
        by_name: dict[str, list[str]] = {}
        cursor = ""
        for _ in range(MAX_PAGES):
            page = self._list_page(cursor)
            for member in page.get("members") or []:
                if member.get("deleted") or member.get("is_bot") or not member.get("id"):
                    continue
                for name in _names(member):
                    ids = by_name.setdefault(name, [])
                    if member["id"] not in ids:
                        ids.append(str(member["id"]))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return by_name
