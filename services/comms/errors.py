"""The error tree of the integrations outside Slack (as kopf's temporary / permanent errors).

A channel raises `RetryLater` when the other side may take the same request later (it is
down, it times out, it rate-limits us) and `Refused` when it never will (a bad key, a
payload it rejects): retrying that would only repeat the refusal.
"""

from __future__ import annotations

from datetime import timedelta


class CommsError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class RetryLater(CommsError):
    """Try again after `after` (a Retry-After header), or after the dispatcher's backoff.

    `whole_channel`: the limit is the channel's (a rate limit per API key), so nothing
    else goes to that channel before then either.
    """

    def __init__(
        self,
        message: str,
        *,
        after: timedelta | None = None,
        whole_channel: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.after = after
        self.whole_channel = whole_channel


class Refused(CommsError):
    """The other side refused the request for good; it is reported, not retried."""
