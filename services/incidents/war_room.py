"""Opening the war room: the steps after a declaration, each done once and reported.

Each step's result is stored on the incident as soon as it succeeds, so a
retried or resumed flow skips what is done. A step that fails is reported in
the war room and on the timeline; the others still run. Only a war room that
cannot be created at all stops the flow, and the declaration stays recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services import timeline
from services.chat import Chat, ChatError, Message, Posted
from services.clock import Clock, isoformat
from services.comms import deliveries
from services.incidents import records
from services.incidents.model import Incident
from services.incidents.outside import told_outside, war_room_opened
from services.incidents.presenting import incident_data
from services.incidents.responders import invite_responders, is_slack_user
from services.incidents.war_room_channel import WarRoomError, ensure_channel
from services.settings import IncidentSettings
from services.store import Store

if TYPE_CHECKING:
    from services.comms.hub import Comms

log = logging.getLogger(__name__)


@dataclass
class FlowReport:
    incident: Incident
    problems: list[str] = field(default_factory=list)
    # A step failed because the platform was unavailable: the tick runs the flow again.
    incomplete: bool = False
    # The channel was refused for good (a scope, a workspace policy): left to the repair command.
    refused: bool = False


@dataclass(frozen=True)
class WarRoomDeps:
    store: Store
    clock: Clock
    chat: Chat
    settings: IncidentSettings
    # Resuming after a crash: look for what was already posted before posting it.
    resuming: bool = False
    # What is said outside Slack (status page, paging, email); None: nothing is.
    comms: Comms | None = None


# One flow per incident at a time in this process: the tick's retry skips an incident
# whose declaration (or repair) is still running, instead of creating a second channel.
_flows: dict[str, threading.RLock] = {}
_flows_lock = threading.Lock()


def _flow_lock(incident_id: str) -> threading.RLock:
    with _flows_lock:
        return _flows.setdefault(incident_id, threading.RLock())


def open_war_room(incident: Incident, *, deps: WarRoomDeps, actor: str) -> FlowReport:
    """Run every step that is not done yet; the flow is safe to run again after a crash."""
    with _flow_lock(incident.id):
        return _open_war_room(records.get(deps.store, incident.id), deps=deps, actor=actor)


def _open_war_room(incident: Incident, *, deps: WarRoomDeps, actor: str) -> FlowReport:
    report = FlowReport(incident)
    incident = ensure_channel(incident, deps=deps, actor=actor)
    report.incident = incident
    war_room_opened(incident, deps)
    assert incident.channel_id is not None
    channel = incident.channel_id
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("invite", lambda: invite_responders(incident, deps, actor, report)),
        ("topic", lambda: deps.chat.set_topic(channel, topic(incident, deps.chat))),
        ("bookmarks", lambda: _bookmarks(incident, deps)),
        ("header", lambda: _post_header(incident, deps)),
        ("announcement", lambda: _announce(incident, deps)),
        ("escalation", lambda: _escalate_if_severe(incident, deps)),
        ("playbook", lambda: _post_playbook(incident, deps)),
        ("outside", lambda: report.problems.extend(told_outside(incident, deps))),
    )
    for name, step in steps:
        try:
            step()
        except ChatError as exc:
            report.incomplete = report.incomplete or exc.retryable
            _problem(report, deps, actor, step=name, error=exc)
        except Exception as exc:
            # A bug in one step (a broken template override…) must not cost the others.
            log.exception("war room step %s of %s failed", name, incident.id)
            _problem(report, deps, actor, step=name, error=ChatError(name, type(exc).__name__))
    if report.problems and not (deps.resuming and report.incomplete):
        _post_problems(report, deps)  # a retry that fails again stays on the timeline only
    if not report.incomplete:
        records.set_if_unset(deps.store, incident.id, war_room_done_at=isoformat(deps.clock.now()))
    report.incident = records.get(deps.store, incident.id)
    return report


def unfinished_war_rooms(store: Store) -> list[Incident]:
    """Open incidents whose war room flow was cut short (a crash) or left steps to retry."""
    rows = store.query(
        "SELECT id FROM incidents WHERE war_room_done_at IS NULL AND status != 'resolved'"
        " ORDER BY number"
    )
    return [records.get(store, row["id"]) for row in rows]


def resume_war_rooms(
    deps: WarRoomDeps, *, due: Callable[[Incident], bool] | None = None
) -> list[FlowReport]:
    """Finish each war room a crash or an outage left incomplete, without repeating steps.

    On start every one is tried; the scheduler's tick passes `due` to pace the retries.
    """
    resuming = dataclasses.replace(deps, resuming=True)
    reports = []
    for incident in unfinished_war_rooms(deps.store):
        if due is not None and not due(incident):
            continue
        lock = _flow_lock(incident.id)
        if not lock.acquire(blocking=False):
            continue  # its flow is running right now
        try:
            reports.append(open_war_room(incident, deps=resuming, actor=incident.declared_by))
        except WarRoomError as exc:
            log.warning(
                "war room of %s still cannot be created; %s",
                incident.id,
                "the tick retries" if exc.retryable else "left for the repair command",
            )
            current = records.get(deps.store, incident.id)
            reports.append(FlowReport(current, incomplete=True, refused=not exc.retryable))
        finally:
            lock.release()
    return reports


def topic(incident: Incident, chat: Chat) -> str:
    commander = "unassigned"
    if incident.commander:
        name = chat.user_name(incident.commander) if is_slack_user(incident.commander) else None
        commander = f"@{name}" if name else incident.commander
    return f"{incident.severity.label} · {incident.status.label} · IC: {commander}"


def refresh_messages(incident: Incident, *, deps: WarRoomDeps) -> list[str]:
    """Edit the header and the announcement in place; return what could not be edited."""
    problems = []
    data = header_data(incident, deps)
    targets = [
        (incident.channel_id, incident.header_ts, "incident_header"),
        (incident.announcement_channel_id, incident.announcement_ts, "incident_announcement"),
    ]
    for channel, ts, template in targets:
        if channel and ts:
            try:
                deps.chat.update(channel, ts, Message(template, data))
            except ChatError as exc:
                problems.append(f"Could not update the {template.replace('_', ' ')}: `{exc.error}`")
    if incident.channel_id:
        try:
            deps.chat.set_topic(incident.channel_id, topic(incident, deps.chat))
        except ChatError as exc:
            problems.append(f"Could not update the channel topic: `{exc.error}`")
    return problems


# -- the steps ----------------------------------------------------------------


def post_once(
    channel_id: str,
    message: Message,
    deps: WarRoomDeps,
    *,
    thread_ts: str | None = None,
    broadcast: bool = False,
) -> Posted:
    """Post, unless a resumed flow finds the message it posted before the crash."""
    if deps.resuming and message.key:
        try:
            found = deps.chat.find_message(channel_id, message.key, thread_ts=thread_ts)
        except ChatError as exc:
            log.warning("could not read back %s: %s", channel_id, exc.error)
            found = None
        if found is not None:
            return Posted(channel_id=channel_id, ts=found)
    return deps.chat.post(channel_id, message, thread_ts=thread_ts, broadcast=broadcast)


def direct_message_once(user_id: str, message: Message, deps: WarRoomDeps) -> Posted:
    """A DM, unless a resumed flow finds the one it sent before the crash."""
    if deps.resuming and message.key:
        try:
            found = deps.chat.find_direct_message(user_id, message.key)
        except ChatError as exc:
            log.warning("could not read back the DM to %s: %s", user_id, exc.error)
            found = None
        if found is not None:
            return found
    return deps.chat.direct_message(user_id, message)


def _bookmarks(incident: Incident, deps: WarRoomDeps) -> None:
    assert incident.channel_id is not None
    row = deps.store.query_one(
        "SELECT bookmarks_added_at FROM incidents WHERE id = ?", (incident.id,)
    )
    if row and row["bookmarks_added_at"]:
        return  # a repaired war room does not get its bookmarks twice
    # What the incident is called elsewhere, opened before its war room (the status page):
    # bookmarked here unless its channel got to it first (each is claimed once).
    elsewhere = [
        link
        for link in deliveries.links(deps.store, incident.id)
        if link.url
        and link.data.get("bookmark")
        and deliveries.claim_bookmark(deps.store, incident.id, link.system)
    ]
    if not (deps.settings.bookmarks or incident.call_link or elsewhere):
        return
    if incident.call_link:
        deps.chat.add_bookmark(incident.channel_id, title="Call", link=incident.call_link)
    for bookmark in deps.settings.bookmarks:
        link = bookmark.link.replace("{incident_id}", incident.id)
        deps.chat.add_bookmark(incident.channel_id, title=bookmark.title, link=link)
    for found in elsewhere:
        assert found.url is not None
        deps.chat.add_bookmark(
            incident.channel_id, title=str(found.data["bookmark"]), link=found.url
        )
    records.set_if_unset(deps.store, incident.id, bookmarks_added_at=isoformat(deps.clock.now()))


def header_data(incident: Incident, deps: WarRoomDeps) -> dict[str, Any]:
    """The header's data (also the announcement's, which ignores `publishable`)."""
    return {
        "incident": incident_data(incident, now=deps.clock.now()),
        # The "Publish to status page" button, when a status page is configured.
        "publishable": deps.comms is not None and deps.comms.delivers_to("statuspage"),
    }


def _post_header(incident: Incident, deps: WarRoomDeps) -> None:
    if incident.header_ts or incident.channel_id is None:
        return
    message = Message("incident_header", header_data(incident, deps), key=f"{incident.id}:header")
    posted = post_once(incident.channel_id, message, deps)
    records.set_if_unset(deps.store, incident.id, header_ts=posted.ts)


def _announce(incident: Incident, deps: WarRoomDeps) -> None:
    settings = deps.settings
    if settings.announcement_channel is None:
        return
    if not incident.announcement_ts:
        data = {"incident": incident_data(incident, now=deps.clock.now())}
        message = Message("incident_announcement", data, key=f"{incident.id}:announcement")
        posted = post_once(settings.announcement_channel, message, deps)
        records.set_if_unset(
            deps.store,
            incident.id,
            announcement_channel_id=posted.channel_id,
            announcement_ts=posted.ts,
        )
        incident = records.get(deps.store, incident.id)
    # Recorded even when a crash came between the post and this line.
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=timeline.BOT_ACTOR,
        kind="announced",
        text="Initial notification posted",
        data={"channel_id": incident.announcement_channel_id, "ts": incident.announcement_ts},
        dedup_key=f"announced:{incident.id}",
    )


def _escalate_if_severe(incident: Incident, deps: WarRoomDeps) -> None:
    if deps.settings.policy(incident.severity.value).escalate and not timeline.has_dedup_key(
        deps.store, f"escalated:{incident.id}:declared"
    ):
        escalate(
            incident, deps=deps, reason="declared", dedup_key=f"escalated:{incident.id}:declared"
        )


def escalate(
    incident: Incident, *, deps: WarRoomDeps, reason: str, dedup_key: str | None = None
) -> None:
    settings = deps.settings
    if settings.escalation_channel is None and settings.escalation_usergroup is None:
        return
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "usergroup": settings.escalation_usergroup,
        "reason": reason,
    }
    channel = settings.escalation_channel or settings.announcement_channel or incident.channel_id
    if channel is None:
        return
    post_once(channel, Message("escalation", data, key=dedup_key), deps)
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=timeline.BOT_ACTOR,
        kind="escalated",
        text=f"Escalated ({reason})",
        data={"channel_id": channel, "usergroup": settings.escalation_usergroup, "reason": reason},
        dedup_key=dedup_key,
    )


def _post_playbook(incident: Incident, deps: WarRoomDeps) -> None:
    if incident.playbook_ts or incident.channel_id is None:
        return
    from services.incidents import playbook

    items = playbook.create_items(incident, deps=deps)
    data = {
        "incident": incident_data(incident, now=deps.clock.now()),
        "phases": playbook.phases(items),
    }
    message = Message("playbook", data, key=f"{incident.id}:playbook")
    posted = post_once(incident.channel_id, message, deps)
    records.set_if_unset(deps.store, incident.id, playbook_ts=posted.ts)


def _problem(
    report: FlowReport, deps: WarRoomDeps, actor: str, *, step: str, error: ChatError
) -> None:
    report.problems.append(f"Step `{step}` failed: `{error.error}`")
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=report.incident.id,
        actor=timeline.BOT_ACTOR,
        kind="step_failed",
        text=f"War room step {step} failed: {error.error}",
        data={"step": step, "error": error.error, "method": error.method},
    )


def _post_problems(report: FlowReport, deps: WarRoomDeps) -> None:
    channel = report.incident.channel_id
    if channel is None:
        return
    data = {"incident_id": report.incident.id, "problems": report.problems}
    # Already on the timeline; the person who asked is told in the reply too.
    with contextlib.suppress(ChatError):
        deps.chat.post(channel, Message("flow_problems", data))
