"""The root of the domain's error tree: one base, one retryable variant, one convention.

Every error a person can cause or fix carries a `message` saying what was wrong and a
`hint` saying what to do next; the handlers show both and nothing else. As kopf's
permanent / temporary errors: `UserFacingError` itself is permanent (asking again
repeats the failure), `TemporaryError` says asking again later may work, after `delay`
seconds when the other side told us how long. `retryable` is the one flag every caller
reads; the variant sets it by class, and the few errors whose retryability is only known
when they are raised (a deploy step's HTTP status, a push that lost a race) set it on
the instance with the same meaning.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An expected failure: shown to the person who asked, never as a traceback."""

    # Asking again (later) may succeed; see TemporaryError.
    retryable: bool = False
    # Seconds to wait before asking again, when known (a Retry-After); None: the caller's backoff.
    delay: float | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class TemporaryError(UserFacingError):
    """The failure may go away by itself (a service down, busy or rate-limiting): retry."""

    retryable = True

    def __init__(
        self, message: str, *, hint: str | None = None, delay: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.delay = delay


class NotFoundError(UserFacingError):
    """The thing named (incident, deployment, hotfix) does not exist."""


class ConflictError(UserFacingError):
    """The request lost a race, repeats one already done, or collides with other work:
    nothing was changed."""


class PermissionDeniedError(UserFacingError):
    """The actor is not allowed to do this; the refusal is audited by the caller."""


class DeployError(UserFacingError):
    """A backend step failed; `changed` says whether the target may have changed.

    `retryable` is set per error (the base's meaning): whether a step may be retried is
    known only from the answer the backend got (a 503 may, a 422 may not).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        changed: bool = True,
        retryable: bool = False,
        output: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.changed = changed
        self.retryable = retryable
        # What the failed command printed, whole (the message holds its last lines): the
        # timeline keeps it.
        self.output = output
