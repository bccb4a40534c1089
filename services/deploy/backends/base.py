"""What the engine needs from a deploy backend (Kubernetes, a script)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.errors import UserFacingError

Progress = Callable[[str], None]  # a line for the deployment card
ShouldAbort = Callable[[], bool]  # someone pressed Rollback while we wait


@dataclass(frozen=True)
class Running:
    """What the target runs now, as far as the backend can tell."""

    summary: str
    version: str | None = None
    image: str | None = None
    revision: str | None = None
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "version": self.version,
            "image": self.image,
            "revision": self.revision,
            "color": self.color,
            **self.extra,
        }


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


class AlreadyThereError(DeployError):
    """The rollback found the target already at what it aims at; nothing was changed.

    `kubectl rollout undo` answers this "skipped rollback" and exits 0: not a failure,
    and no reason to page anyone.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, changed=False)


class AbortedError(DeployError):
    """Someone asked for a rollback while the step was running."""


class Backend(Protocol):
    def current(self) -> Running:
        """Read what runs now (also used to reconcile after a restart)."""
        ...

    def validate(self, version: str) -> list[str]:
        """Built-in pre-deployment checks; problems, or [] when the target is ready."""
        ...

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        """Roll out `version`; returns what the rollback needs to know. Raises DeployError."""
        ...

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        """Go back to `to_version`, or to what ran `before` the deployment when None."""
        ...
