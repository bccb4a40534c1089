"""The error tree of the integrations outside Slack, under the domain's base (services.errors).

A channel raises `RetryLater` (a TemporaryError) when the other side may take the same
request later (it is down, it times out, it rate-limits us) and `Refused` when it never
will (a bad key, a payload it rejects): retrying that would only repeat the refusal.
"""

from __future__ import annotations

from datetime import timedelta

from services.errors import TemporaryError, UserFacingError


class CommsError(UserFacingError):
    """A delivery failed; its message (and hint) is what the timeline and the war room get."""


class RetryLater(CommsError, TemporaryError):
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
        super().__init__(message, hint=hint, delay=None if after is None else after.total_seconds())
        self.whole_channel = whole_channel

    @property
    def after(self) -> timedelta | None:
        return timedelta(seconds=self.delay) if self.delay is not None else None


class Refused(CommsError):
    """The other side refused the request for good; it is reported, not retried."""
