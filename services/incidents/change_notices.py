"""Telling about a recorded incident change: the war room, the announcement thread, the
people concerned and the systems outside Slack.

Each message is keyed by the change's timeline event, so a run resumed after a crash
finds what went out instead of sending it twice. Chat failures come back as problems
for the caller to show; the change stands.
"""

from __future__ import annotations

from services import timeline
from services.chat import ChatError, Message
from services.comms.news import Occasion
from services.incidents.model import Incident, Role, Severity
from services.incidents.outside import tell_outside
from services.incidents.presenting import incident_data
from services.incidents.responders import invite_people, is_slack_user, responders_for
from services.incidents.war_room import (
    FlowReport,
    WarRoomDeps,
    direct_message_once,
    escalate,
    post_once,
    refresh_messages,
)


def about_update(
    incident: Incident, event: timeline.TimelineEvent, *, key: str | None, deps: WarRoomDeps
) -> list[str]:
    """Post a recorded status update, keyed by its event so that a resumed run finds it."""
    problems: list[str] = []
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "old_status": str(event.data["status"]["old"]),
        "message": str(event.data.get("message") or ""),
        "author": event.actor,
        # The war room sees what customers were told (`--public`).
        "public": str(event.data.get("public") or ""),
    }
    message = Message("status_update", data, key=key)
    problems += tell_outside(Occasion.UPDATED, incident, event, deps)
    problems += _everyone(incident, message, deps=deps, broadcast=bool(event.data.get("broadcast")))
    return problems


def about_role(
    incident: Incident, event: timeline.TimelineEvent, *, deps: WarRoomDeps
) -> list[str]:
    """Invite the assignee and DM them the role, keyed by the event so a resumed run finds it."""
    problems: list[str] = []
    role = Role(str(event.data["role"]))
    user_id = str(event.data["new"])
    report = FlowReport(incident)
    invite_people(incident, [user_id], deps=deps, report=report)
    problems += report.problems
    if is_slack_user(user_id):
        data = {
            "incident": incident_data(incident, now=deps.clock.now()),
            "role": role.value,
            "role_label": role.label,
            "assigned_by": event.actor,
        }
        message = Message("role_assigned", data, key=f"{incident.id}:role:{event.id}")
        _try(problems, "send the role DM", lambda: direct_message_once(user_id, message, deps))
    problems += refresh_messages(incident, deps=deps)
    return problems


def about_severity(
    incident: Incident, event: timeline.TimelineEvent, *, deps: WarRoomDeps
) -> list[str]:
    """Invite that severity's responders, escalate a raise, post the change: all keyed by the
    event, so a resumed run finds what it had posted."""
    problems: list[str] = []
    old = Severity(str(event.data["severity"]["old"]))
    new = Severity(str(event.data["severity"]["new"]))
    report = FlowReport(incident)
    invite_people(incident, responders_for(new, deps=deps, report=report), deps=deps, report=report)
    problems += report.problems
    key = f"{incident.id}:severity:{event.id}"
    if deps.settings.policy(new.value).escalate and new.rank < old.rank:
        _try(
            problems,
            "escalate",
            lambda: escalate(
                incident, deps=deps, reason=f"raised to {new.label}", dedup_key=f"escalated:{key}"
            ),
        )
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "old_severity": old.label,
        "author": event.actor,
    }
    problems += tell_outside(
        Occasion.SEVERITY_CHANGED, incident, event, deps, details={"old_severity": old.value}
    )
    problems += _everyone(incident, Message("severity_changed", data, key=key), deps=deps)
    return problems


def about_resolution(
    incident: Incident, event: timeline.TimelineEvent, *, deps: WarRoomDeps
) -> list[str]:
    """Post the recorded resolution, keyed by its event so that a resumed run finds it."""
    problems: list[str] = []
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "resolution": event.data.get("resolution", ""),
        "action_items": event.data.get("action_items", []),
        "author": event.actor,
        "public": str(event.data.get("public") or ""),
    }
    message = Message("resolution_notice", data, key=f"resolved:{event.id}")
    problems += tell_outside(Occasion.RESOLVED, incident, event, deps)
    problems += _everyone(incident, message, deps=deps)
    return problems


def _everyone(
    incident: Incident,
    message: Message,
    *,
    deps: WarRoomDeps,
    broadcast: bool = False,
) -> list[str]:
    """Post in the war room and the announcement thread, then edit the header and announcement."""
    problems: list[str] = []
    targets: list[tuple[str | None, str | None, str]] = [
        (incident.channel_id, None, "the war room")
    ]
    if incident.announcement_ts:
        targets.append(
            (incident.announcement_channel_id, incident.announcement_ts, "the announcement thread")
        )
    for channel, thread, where in targets:
        if channel:
            _try(
                problems,
                f"post in {where}",
                lambda c=channel, t=thread: post_once(
                    c, message, deps, thread_ts=t, broadcast=broadcast and t is not None
                ),
            )
    problems += refresh_messages(incident, deps=deps)
    return problems


def _try(problems: list[str], what: str, call: object) -> None:
    assert callable(call)
    try:
        call()
    except ChatError as exc:
        problems.append(f"Could not {what}: `{exc.error}`")
