"""Status-update and postmortem reminders, computed from the store on every tick.

Nothing about the schedule lives in memory: the scheduler only calls `tick`,
which asks SQLite what is due. A bot that was down sends each overdue
reminder once on its first tick (not once per missed interval) and keeps the
cadence from there. Each reminder is claimed with a compare-and-set, so two
ticks (or two processes) never send the same one twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from services import timeline
from services.chat import ChatError, Message
from services.clock import isoformat
from services.incidents import records
from services.incidents.model import Incident
from services.incidents.presenting import incident_data
from services.incidents.war_room import WarRoomDeps, escalate
from services.metrics import REMINDERS

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    reminders: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    postmortem_reminders: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def tick(*, deps: WarRoomDeps) -> TickReport:
    report = TickReport()
    now = deps.clock.now()
    due_rows = deps.store.query(
        "SELECT * FROM incidents WHERE status != 'resolved' AND next_update_due_at <= ?"
        " ORDER BY next_update_due_at",
        (isoformat(now),),
    )
    for row in due_rows:
        _remind(Incident.from_row(row), deps=deps, report=report)
    postmortems = deps.store.query(
        "SELECT * FROM incidents WHERE status = 'resolved' AND postmortem_due_at <= ?"
        " AND postmortem_reminded_at IS NULL",
        (isoformat(now),),
    )
    for row in postmortems:
        _remind_postmortem(Incident.from_row(row), deps=deps, report=report)
    return report


def _remind(incident: Incident, *, deps: WarRoomDeps, report: TickReport) -> None:
    assert incident.next_update_due_at is not None
    now = deps.clock.now()
    cadence = timedelta(minutes=deps.settings.policy(incident.severity.value).update_every_minutes)
    missed = incident.reminders_missed + 1
    with deps.store.transaction():
        claimed = records.update(
            deps.store,
            incident.id,
            expect={
                "next_update_due_at": isoformat(incident.next_update_due_at),
                "status": incident.status.value,
            },
            values={"next_update_due_at": isoformat(now + cadence), "reminders_missed": missed},
        )
        if not claimed:
            return
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=timeline.BOT_ACTOR,
            kind="reminder_sent",
            text=f"Status update reminder ({missed} missed)",
            data={"due_at": isoformat(incident.next_update_due_at), "missed": missed},
            at=now,
        )
    report.reminders.append(incident.id)
    REMINDERS.labels("status_update").inc()
    updated = records.get(deps.store, incident.id)
    if updated.channel_id is None:
        return
    try:
        _post_reminder(
            updated, deps=deps, missed=missed, due=isoformat(incident.next_update_due_at)
        )
    except ChatError as exc:
        report.problems.append(f"{incident.id}: reminder not posted: {exc.error}")
    if missed >= deps.settings.escalate_after_missed:
        try:
            _escalate_missed(updated, deps=deps, missed=missed)
            report.escalations.append(incident.id)
        except ChatError as exc:
            report.problems.append(f"{incident.id}: escalation not posted: {exc.error}")


def _post_reminder(incident: Incident, *, deps: WarRoomDeps, missed: int, due: str) -> None:
    assert incident.channel_id is not None
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "missed": missed,
        "overdue": due,
        "snooze_minutes": deps.settings.snooze_minutes,
    }
    key = f"{incident.id}:reminder:{due}"
    deps.chat.post(incident.channel_id, Message("reminder", data, key=key))


def resend_lost_reminders(*, deps: WarRoomDeps) -> list[str]:
    """On start: post the newest reminder of each open incident if a crash swallowed it.

    A reminder is claimed (and put on the timeline) before it is posted, so that
    two ticks never both post it; a crash in between would lose the message.
    Only the newest reminder of an incident is looked for, and only while no
    status update has answered it.
    """
    resent = []
    for row in deps.store.query(
        "SELECT i.id, MAX(t.id) AS event_id FROM incidents i JOIN timeline t"
        " ON t.incident_id = i.id AND t.kind IN ('reminder_sent', 'status_update')"
        " WHERE i.status != 'resolved' AND i.channel_id IS NOT NULL GROUP BY i.id"
    ):
        event = timeline.event(deps.store, row["event_id"])
        if event is None or event.kind != "reminder_sent":
            continue
        incident = records.get(deps.store, row["id"])
        due = str(event.data["due_at"])
        assert incident.channel_id is not None
        try:
            if deps.chat.find_message(incident.channel_id, f"{incident.id}:reminder:{due}"):
                continue
            _post_reminder(incident, deps=deps, missed=int(event.data["missed"]), due=due)
        except ChatError as exc:
            log.warning("could not resend the reminder of %s: %s", incident.id, exc.error)
            continue
        resent.append(incident.id)
    return resent


def _escalate_missed(incident: Incident, *, deps: WarRoomDeps, missed: int) -> None:
    """Mention the responders in the war room, and the escalation channel if configured."""
    assert incident.channel_id is not None
    responders = deps.settings.policy(incident.severity.value).responders
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "missed": missed,
        "responders": responders,
    }
    deps.chat.post(incident.channel_id, Message("reminder_escalation", data))
    escalate(incident, deps=deps, reason=f"{missed} status updates missed")


def _remind_postmortem(incident: Incident, *, deps: WarRoomDeps, report: TickReport) -> None:
    now = deps.clock.now()
    with deps.store.transaction():
        if not records.set_if_unset(deps.store, incident.id, postmortem_reminded_at=isoformat(now)):
            return
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=timeline.BOT_ACTOR,
            kind="postmortem_reminder",
            text="Postmortem reminder sent",
            data={},
            at=now,
        )
    report.postmortem_reminders.append(incident.id)
    REMINDERS.labels("postmortem").inc()
    if incident.channel_id:
        try:
            deps.chat.post(
                incident.channel_id,
                Message("postmortem_reminder", {"incident": incident_data(incident, now=now)}),
            )
        except ChatError as exc:
            report.problems.append(f"{incident.id}: postmortem reminder not posted: {exc.error}")


def snooze(incident: Incident, *, deps: WarRoomDeps, actor: str) -> Incident:
    now = deps.clock.now()
    until = now + timedelta(minutes=deps.settings.snooze_minutes)
    with deps.store.transaction():
        records.update(
            deps.store,
            incident.id,
            expect={"status": incident.status.value},
            values={"next_update_due_at": isoformat(until)},
        )
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=actor,
            kind="reminder_snoozed",
            text=f"Update reminder snoozed for {deps.settings.snooze_minutes} min",
            data={
                "until": isoformat(until),
                "old_due": isoformat(incident.next_update_due_at)
                if incident.next_update_due_at
                else None,
            },
            at=now,
        )
    return records.get(deps.store, incident.id)
