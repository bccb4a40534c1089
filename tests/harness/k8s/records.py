"""What the emulator received, and the failures a test asked it to inject."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the emulator received, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any  # parsed JSON; the raw text when it was not JSON; None when empty
    status: int
    user_agent: str | None = None  # hotfix-bot's client says "hotfix-bot/…"

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


# Every request any emulator received in this test process: the RBAC test checks that
# deploy/rbac.yaml allows all of them and nothing more.
SESSION_REQUESTS: list[RecordedRequest] = []


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    code: int
    reason: str
    message: str
    times: int
