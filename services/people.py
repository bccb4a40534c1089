"""People by the name they go by: Slack user ids → display names, cached.

Documents the bot writes (the postmortem, the `timeline` command) are read by people,
often outside Slack, where `U04F3K1MX` means nothing. Names come from the Chat port's
`user_name` (Slack's users.info) and are cached for an hour: a postmortem names the
same dozen people a hundred times, and Slack rate-limits users.info.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

from services.chat import Chat, ChatError
from services.clock import Clock

# A Slack user id as it appears in text: U or W, then capitals and digits, with a digit
# (so that words such as "UTC" are never looked up).
USER_ID = re.compile(
    r"(?<![A-Za-z0-9])<?@?([UW](?=[A-Z0-9]*[0-9])[A-Z0-9]{2,})(?:\|[^>]*)?>?(?![A-Za-z0-9])"
)
TTL = timedelta(hours=1)
TERMINAL_PREFIX = "console:"


class DisplayNames:
    """id → "@name" via users.info; unknown ids stay as they are, Slack outages too."""

    def __init__(self, chat: Chat, *, clock: Clock, ttl: timedelta = TTL) -> None:
        self.chat = chat
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str | None, datetime]] = {}

    def name(self, user_id: str) -> str | None:
        """The display name, or None (no such user, or Slack could not tell)."""
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None and now - cached[1] < self.ttl:
            return cached[0]
        try:
            found = self.chat.user_name(user_id)
        except ChatError:
            return None  # not cached: the next document tries again
        with self._lock:
            self._cache[user_id] = (found, now)
        return found

    def who(self, actor: str) -> str:
        """How a document names an actor: "@bob", a console login as "@alice", the bot as is."""
        if actor.startswith(TERMINAL_PREFIX):
            return "@" + actor.removeprefix(TERMINAL_PREFIX)
        if USER_ID.fullmatch(actor):
            name = self.name(actor)
            return f"@{name}" if name else actor
        return actor

    def in_text(self, text: str) -> str:
        """Every user id (or <@U…> mention) inside `text` as "@name" when the user is known."""

        def named(match: re.Match[str]) -> str:
            name = self.name(match.group(1))
            return f"@{name}" if name else match.group(0)

        return USER_ID.sub(named, text)
