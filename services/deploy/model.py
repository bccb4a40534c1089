"""A deployment as the domain sees it: a persisted state machine."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.clock import parse_iso

# A version is a Docker image tag: it ends up in an image reference and in argv, so
# nothing else passes (always matched whole, never with `$`, which allows a final newline).
VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class State(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    VALIDATING = "validating"
    DEPLOYING = "deploying"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"  # found in flight after a restart; waits for Resume or Rollback
    # Withdrawn by its requester, or superseded by an emergency rollback, before approval.
    CANCELLED = "cancelled"
    # A rollback that found the target already at what it aims at (`kubectl rollout undo`'s
    # "skipped rollback"): nothing changed, nobody is paged, and it is not called rolled back.
    ROLLBACK_SKIPPED = "rollback_skipped"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


# The states in which the engine is (or should be) working on the target.
IN_FLIGHT = frozenset(
    {State.APPROVED, State.VALIDATING, State.DEPLOYING, State.VERIFYING, State.ROLLING_BACK}
)
FINAL = frozenset(
    {
        State.SUCCEEDED,
        State.FAILED,
        State.ROLLED_BACK,
        State.REJECTED,
        State.EXPIRED,
        State.CANCELLED,
        State.ROLLBACK_SKIPPED,
    }
)


class Kind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Deployment:
    number: int
    id: str
    kind: Kind
    incident_id: str | None
    service: str
    environment: str
    version: str
    strategy: str
    backend: str
    state: State
    requested_by: str
    requested_at: datetime
    channel_id: str | None
    card_ts: str | None
    approvals_required: int
    expires_at: datetime | None
    break_glass: bool
    verify: bool
    notify_stakeholders: bool
    before: dict[str, Any]  # what ran before: image, revision, colour
    detail: dict[str, Any]  # what the engine learnt: new revision, colours, outputs
    abort_requested: bool
    finished_at: datetime | None

    @property
    def target(self) -> str:
        return f"{self.service}/{self.environment}"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Deployment:
        return cls(
            number=int(row["number"]),
            id=row["id"],
            kind=Kind(row["kind"]),
            incident_id=row["incident_id"],
            service=row["service"],
            environment=row["environment"],
            version=row["version"],
            strategy=row["strategy"],
            backend=row["backend"],
            state=State(row["state"]),
            requested_by=row["requested_by"],
            requested_at=parse_iso(row["requested_at"]),
            channel_id=row["channel_id"],
            card_ts=row["card_ts"],
            approvals_required=int(row["approvals_required"]),
            expires_at=parse_iso(row["expires_at"]) if row["expires_at"] else None,
            break_glass=bool(row["break_glass"]),
            verify=bool(row["verify"]),
            notify_stakeholders=bool(row["notify_stakeholders"]),
            before=json.loads(row["before"]),
            detail=json.loads(row["detail"]),
            abort_requested=bool(row["abort_requested"]),
            finished_at=parse_iso(row["finished_at"]) if row["finished_at"] else None,
        )
