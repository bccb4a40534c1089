"""What happened to an incident, as told to the integrations outside Slack."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.incidents.model import Incident
from services.timeline import TimelineEvent


class Occasion(StrEnum):
    DECLARED = "declared"
    UPDATED = "updated"  # a status update (`incident update`, the update form)
    SEVERITY_CHANGED = "severity_changed"
    RESOLVED = "resolved"
    PUBLISHED = "published"  # "Publish to status page" / `--public` on its own
    PAGED = "paged"  # `/hotfix page …`


@dataclass(frozen=True)
class IncidentNews:
    """One recorded change. `event` is its timeline event: its id keys every delivery
    planned from it, so planning the same news twice queues nothing new."""

    occasion: Occasion
    incident: Incident
    event: TimelineEvent
    # Customer-facing words typed by a person (`--public="…"`, the publish form). Nothing
    # else written during an incident may reach a customer template.
    public: str | None = None
    broadcast: bool = False
    # Occasion-specific details (a page's targets and message, the old severity…).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"event:{self.event.id}"
