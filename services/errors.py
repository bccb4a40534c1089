"""The root of the domain's error tree.

Every error a person can cause or fix carries a message saying what was wrong
and a hint saying what to do next; the handlers show both and nothing else.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An expected failure: shown to the person who asked, never as a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotFoundError(UserFacingError):
    """The thing named (incident, deployment, hotfix) does not exist."""


class ConflictError(UserFacingError):
    """The request lost a race or repeats one already done: nothing was changed."""


class PermissionDeniedError(UserFacingError):
    """The actor is not allowed to do this; the refusal is audited by the caller."""


class DeployError(UserFacingError):
    """A backend step failed; `changed` says whether the target may have changed."""

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
