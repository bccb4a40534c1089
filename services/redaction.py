"""The one list of secret values the bot knows, and the redaction every output goes through.

Secrets come from the process environment (Slack tokens, the signing secret,
tokens named in the configuration such as ``analysis.bearer_token_env``), so
the list is process-wide like the environment itself: the composition root
registers them once at start-up, and every place where text leaves the bot
(captured child-process output, git errors, log lines) redacts with the same
list. Passing it down every call chain instead would leave a path that forgets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
# Shorter values are not secrets worth hiding and would shred ordinary text.
MIN_SECRET_LENGTH = 8


class Redactor:
    """Replaces every registered secret value by ``[redacted]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def register(self, values: Iterable[str | None]) -> None:
        """Add secret values; blank or very short ones are ignored."""
        with self._lock:
            known = set(self._values)
            known.update(v for v in values if v and len(v.strip()) >= MIN_SECRET_LENGTH)
            # Longest first, so a secret containing another is replaced whole.
            self._values = tuple(sorted(known, key=len, reverse=True))

    def forget_all(self) -> None:
        """Tests only: start from an empty list."""
        with self._lock:
            self._values = ()

    @property
    def values(self) -> tuple[str, ...]:
        return self._values

    def is_secret(self, value: str) -> bool:
        return any(secret in value for secret in self._values)

    def redact(self, text: str) -> str:
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact_data(self, data: Any) -> Any:
        """Redact every string inside JSON-like data (dicts, lists, tuples)."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {key: self.redact_data(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(item) for item in data]
        return data


SECRETS = Redactor()


def redact(text: str) -> str:
    """Redact the process's registered secrets from ``text``."""
    return SECRETS.redact(text)
