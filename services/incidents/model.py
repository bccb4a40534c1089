"""The incident as the domain sees it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.clock import parse_iso
from services.errors import UserFacingError


class Severity(StrEnum):
    SEV0 = "sev0"
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"

    @property
    def label(self) -> str:
        return self.value.upper()

    @property
    def meaning(self) -> str:
        return SEVERITY_MEANINGS[self]

    @property
    def rank(self) -> int:
        """0 is the most severe."""
        return int(self.value[-1])


SEVERITY_MEANINGS = {
    Severity.SEV0: "Emergency: total outage or data loss, all hands now",
    Severity.SEV1: "Critical: a critical service is down for many customers",
    Severity.SEV2: "High: degraded or partial outage, a workaround exists",
    Severity.SEV3: "Medium / low: small impact, no customer-facing outage",
}

# The runbooks' words for a severity, accepted wherever a severity is typed. The runbook's
# SEV1 playbook is the "critical service outage", so `critical` is SEV1; SEV0 (total outage
# or data loss, all hands) is rarer than any word and is asked for by name.
SEVERITY_WORDS = {
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "medium": Severity.SEV3,
    "low": Severity.SEV3,
}
_SEVERITY_NAME = re.compile(r"sev[ _-]?([0-3])", re.IGNORECASE)


def parse_severity(text: str) -> Severity:
    """`sev1`, `SEV1` or a word (`critical`, `high`, `medium`, `low`) as a Severity."""
    typed = text.strip()
    word = SEVERITY_WORDS.get(typed.lower())
    if word is not None:
        return word
    match = _SEVERITY_NAME.fullmatch(typed)
    if match:
        return Severity(f"sev{match.group(1)}")
    raise UserFacingError(
        f"{typed[:40]!r} is not a severity.",
        hint="Use sev0 … sev3, or critical (SEV1), high (SEV2), medium or low (SEV3).",
    )


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Role(StrEnum):
    COMMANDER = "commander"
    SCRIBE = "scribe"
    COMMS = "comms"

    @property
    def label(self) -> str:
        return {
            "commander": "Incident commander",
            "scribe": "Scribe",
            "comms": "Communications lead",
        }[self.value]


IMPACTS = ("low", "medium", "high", "critical")
INCIDENT_ID = re.compile(r"INC-([0-9]{1,9})", re.IGNORECASE)


def parse_incident_id(text: str) -> str:
    match = INCIDENT_ID.fullmatch(text.strip())
    if not match:
        raise UserFacingError(
            # Cut: a pasted 10 KB value must not bury the answer.
            f"{text[:40]!r} is not an incident id.",
            hint="Incident ids look like INC-42.",
        )
    return f"INC-{int(match.group(1))}"


@dataclass(frozen=True)
class Incident:
    number: int
    id: str
    title: str
    severity: Severity
    status: Status
    impact: str
    description: str
    commander: str | None
    scribe: str | None
    comms: str | None
    declared_by: str
    origin_channel_id: str | None
    channel_id: str | None
    channel_name: str | None
    header_ts: str | None
    announcement_channel_id: str | None
    announcement_ts: str | None
    playbook_ts: str | None
    eta: str | None
    root_cause: str | None
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    next_update_due_at: datetime | None
    reminders_missed: int
    last_update_at: datetime | None
    postmortem_due_at: datetime | None
    # The affected services (`--service`), named as in the config's `services:`.
    services: tuple[str, ...] = ()
    # The incident's call (`incidents.call_link` filled in when it was declared).
    call_link: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    def role(self, role: Role) -> str | None:
        value: str | None = getattr(self, role.value)
        return value

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Incident:
        def moment(name: str) -> datetime | None:
            value = row.get(name)
            return parse_iso(value) if value else None

        declared = moment("declared_at")
        assert declared is not None
        return cls(
            number=int(row["number"]),
            id=row["id"],
            title=row["title"],
            severity=Severity(row["severity"]),
            status=Status(row["status"]),
            impact=row["impact"],
            description=row["description"],
            commander=row["commander"],
            scribe=row["scribe"],
            comms=row["comms"],
            declared_by=row["declared_by"],
            origin_channel_id=row["origin_channel_id"],
            channel_id=row["channel_id"],
            channel_name=row["channel_name"],
            header_ts=row["header_ts"],
            announcement_channel_id=row["announcement_channel_id"],
            announcement_ts=row["announcement_ts"],
            playbook_ts=row["playbook_ts"],
            eta=row["eta"],
            root_cause=row["root_cause"],
            declared_at=declared,
            acknowledged_at=moment("acknowledged_at"),
            mitigated_at=moment("mitigated_at"),
            resolved_at=moment("resolved_at"),
            next_update_due_at=moment("next_update_due_at"),
            reminders_missed=int(row["reminders_missed"]),
            last_update_at=moment("last_update_at"),
            postmortem_due_at=moment("postmortem_due_at"),
            services=tuple(json.loads(row.get("services") or "[]")),
            call_link=row.get("call_link"),
        )
