"""The postmortem draft: everything the store knows about an incident, as data.

Rendering to Markdown is the template's job (templates/postmortem.md.j2); this
module gathers the facts, computes the key durations and words what the template
prints as sentences: deployments, people by display name, times in the team's zone
and UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services import timeline
from services.incidents import records
from services.incidents.comms_text import KINDS as COMMS_KINDS
from services.incidents.comms_text import comms_line
from services.incidents.model import Incident
from services.incidents.presenting import duration_text, incident_data
from services.incidents.timeline_text import describe, in_zones
from services.people import DisplayNames
from services.store import Store

# The state names a deployment's sentence ends with ("…, succeeded at 14:44"); a rejection
# is already named with who rejected it.
ENDINGS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "rolled_back": "rolled back",
    "rollback_skipped": "rollback skipped (already there)",
    "expired": "expired unapproved",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
}


def _between(start: datetime, end: datetime | None) -> str | None:
    return duration_text(end - start) if end else None


class _Sentence:
    """One deployment, assembled from its timeline rows."""

    def __init__(self, deployment_id: str) -> None:
        self.id = deployment_id
        self.what = ""
        self.requested = ""
        self.approvals: list[str] = []
        self.steps: list[str] = []
        self.endings: list[str] = []

    def text(self) -> str:
        parts = [f"{self.id}: {self.what}" if self.what else self.id]
        parts += [p for p in (self.requested, *self.approvals, *self.steps, *self.endings) if p]
        return ", ".join(parts)


def _deployments(
    events: list[timeline.TimelineEvent], *, names: DisplayNames, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """One sentence per deployment or rollback, e.g. "DEP-2: payments v2.1.2 → production,
    requested by @alice at 14:38 …, approved by @bob at 14:41 …, checks: smoke succeeded,
    succeeded at 14:44 …"."""
    by_id: dict[str, _Sentence] = {}
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        deployment_id = data.get("deployment_id")
        if not isinstance(deployment_id, str):
            continue
        entry = by_id.setdefault(deployment_id, _Sentence(deployment_id))
        at = in_zones(event.at, zone)
        who = names.who(event.actor)
        if event.kind.endswith("_requested") and data.get("service"):
            service, version, environment = (
                data["service"],
                data.get("version"),
                data.get("environment"),
            )
            entry.what = (
                f"rollback of {service} in {environment} to {version}"
                if event.kind.startswith("rollback")
                else f"{service} {version} → {environment}"
            ) + (" (break-glass)" if data.get("break_glass") else "")
            entry.requested = f"requested by {who} at {at}"
        elif event.kind == "deploy_approval":
            entry.approvals.append(f"approved by {who} at {at}")
        elif event.kind == "deploy_rejection":
            entry.approvals.append(f"rejected by {who} at {at}")
        elif event.kind == "deploy_step" and data.get("step") == "validate":
            outcome = event.text.split(": ", 1)[-1]
            if data.get("result") == "ok" and outcome.startswith("checks:"):
                entry.steps.append(outcome)  # each check by name and result
        elif event.kind in ("canary_abort", "deploy_abort_requested"):
            entry.steps.append(f"stopped by {who} at {at}")
        state = data.get("state")
        if isinstance(state, dict) and state.get("new") in ENDINGS:
            ending = ENDINGS[str(state["new"])]
            to = data.get("rolled_back_to")
            if state["new"] == "rolled_back" and to:
                ending += f" to {to}"
            error = data.get("error")
            if state["new"] == "failed" and error:
                ending += f" ({str(error).splitlines()[0]})"
            entry.endings.append(f"{ending} at {at}")
    return [{"id": e.id, "sentence": names.in_text(e.text())} for e in by_id.values()]


def _communications(
    events: list[timeline.TimelineEvent], *, names: DisplayNames, zone: ZoneInfo
) -> dict[str, Any]:
    """Everything sent outside Slack: one entry per delivery (when, what, to whom, failures
    too), and the summary grouped by system in order of first use, e.g. "Status page
    incident opened 14:35 UTC; customers emailed 14:36; paged @alice 14:33, page
    acknowledged 14:38" (the zone is named once)."""
    entries: list[dict[str, Any]] = []
    by_system: dict[str, list[str]] = {}
    for event in events:
        if event.kind not in COMMS_KINDS:
            continue
        line = comms_line(event, names)
        when = in_zones(event.at, zone)
        entries.append(
            {"when": when, "sentence": line.sentence(), "failed": line.failed, "link": line.link}
        )
        moment = event.at.astimezone(zone).strftime("%H:%M") if by_system else when
        error = f" ({line.error})" if line.error else ""
        by_system.setdefault(line.system, []).append(f"{line.phrase} {moment}{error}")
    summary = "; ".join(", ".join(parts) for parts in by_system.values())
    return {"entries": entries, "summary": summary[:1].upper() + summary[1:]}


def postmortem_data(
    store: Store, incident: Incident, *, now: datetime, zone: ZoneInfo, names: DisplayNames
) -> dict[str, Any]:
    events = timeline.events(store, incident_id=incident.id)
    data = incident_data(incident, now=now)
    for role in ("commander", "scribe", "comms", "declared_by"):
        if data.get(role):
            data[role] = names.who(str(data[role]))
    moments = {
        "declared": incident.declared_at,
        "acknowledged": incident.acknowledged_at,
        "mitigated": incident.mitigated_at,
        "resolved": incident.resolved_at,
    }
    return {
        "incident": data,
        "zone": str(zone),
        "times": {
            key: in_zones(moment, zone, "%Y-%m-%d %H:%M") if moment else None
            for key, moment in moments.items()
        },
        "durations": {
            "acknowledge": _between(incident.declared_at, incident.acknowledged_at),
            "mitigate": _between(incident.declared_at, incident.mitigated_at),
            "resolve": _between(incident.declared_at, incident.resolved_at),
        },
        "timeline": [
            {
                "utc": event.at.strftime("%Y-%m-%d %H:%M:%S"),
                "local": event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                "actor": names.who(event.actor),
                "kind": event.kind,
                "text": describe(event, names),
                "data": event.data,
            }
            for event in events
        ],
        "deployments": _deployments(events, names=names, zone=zone),
        "communications": _communications(events, names=names, zone=zone),
        "action_items": [
            {**item, "owner": names.who(str(item["owner"])) if item.get("owner") else None}
            for item in records.action_items(store, incident.id)
        ],
        "generated_at": in_zones(now, zone, "%Y-%m-%d %H:%M"),
    }
