"""Opening the war room: the steps after a declaration, each done once and reported.

Each step's result is stored on the incident as soon as it succeeds, so a
retried or resumed flow skips what is done. A step that fails is reported in
the war room and on the timeline; the others still run. Only a war room that
cannot be created at all stops the flow, and the declaration stays recorded.
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from services import timeline
from services.chat import Chat, ChatError, Message, NameTakenError
from services.clock import Clock, isoformat
from services.errors import UserFacingError
from services.incidents import repository
from services.incidents.model import Incident, Severity
from services.incidents.presenting import incident_data
from services.settings import IncidentSettings
from services.store import Store

log = logging.getLogger(__name__)
CHANNEL_NAME_LIMIT = 80
NAME_ATTEMPTS = 20


def slugify(text: str, *, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def channel_name(prefix: str, number: int, title: str, *, suffix: str = "") -> str:
    """`inc-<n>-<slug>` within Slack's rules: lowercase, a-z 0-9 - _, at most 80 characters."""
    head = f"{prefix}-{number}"
    room = CHANNEL_NAME_LIMIT - len(head) - len(suffix) - 1
    slug = slugify(title, limit=room)
    return f"{head}-{slug}{suffix}" if slug else f"{head}{suffix}"


def is_slack_user(actor: str | None) -> bool:
    return bool(actor) and re.match(r"^[UW][A-Z0-9]{2,}$", actor or "") is not None


def require_member(user_id: str, *, chat: Chat) -> None:
    """Refuse a person who is not (or no longer) in the workspace, before anything changes."""
    if is_slack_user(user_id) and chat.user_name(user_id) is None:
        raise UserFacingError(
            f"{user_id} is not a member of this workspace.",
            hint="Mention someone from the people list: type @ and pick them.",
        )


@dataclass
class FlowReport:
    incident: Incident
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WarRoomDeps:
    store: Store
    clock: Clock
    chat: Chat
    settings: IncidentSettings


class WarRoomError(UserFacingError):
    """The war room channel could not be created; the incident itself is recorded."""


def open_war_room(incident: Incident, *, deps: WarRoomDeps, actor: str) -> FlowReport:
    report = FlowReport(incident)
    incident = _ensure_channel(incident, deps=deps, actor=actor)
    report.incident = incident
    assert incident.channel_id is not None
    channel = incident.channel_id
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("invite", lambda: _invite(incident, deps, actor, report)),
        ("topic", lambda: deps.chat.set_topic(channel, topic(incident, deps.chat))),
        ("bookmarks", lambda: _bookmarks(incident, deps)),
        ("header", lambda: _post_header(incident, deps)),
        ("announcement", lambda: _announce(incident, deps)),
        ("escalation", lambda: _escalate_if_severe(incident, deps)),
        ("playbook", lambda: _post_playbook(incident, deps)),
    )
    for name, step in steps:
        try:
            step()
        except ChatError as exc:
            _problem(report, deps, actor, step=name, error=exc)
        except Exception as exc:
            # A bug in one step (a broken template override…) must not cost the others.
            log.exception("war room step %s of %s failed", name, incident.id)
            _problem(report, deps, actor, step=name, error=ChatError(name, type(exc).__name__))
    if report.problems:
        _post_problems(report, deps)
    report.incident = repository.get(deps.store, incident.id)
    return report


def topic(incident: Incident, chat: Chat) -> str:
    commander = "unassigned"
    if incident.commander:
        name = chat.user_name(incident.commander) if is_slack_user(incident.commander) else None
        commander = f"@{name}" if name else incident.commander
    return f"{incident.severity.label} · {incident.status.label} · IC: {commander}"


def responders_for(severity: Severity, *, deps: WarRoomDeps, report: FlowReport) -> list[str]:
    """Configured responders, with user groups expanded to their members."""
    people: list[str] = []
    for target in deps.settings.policy(severity.value).responders:
        if target.startswith("S"):
            try:
                people += deps.chat.usergroup_members(target)
            except ChatError as exc:
                report.problems.append(f"Could not read user group {target}: {exc.error}")
        else:
            people.append(target)
    return people


def invite_people(
    incident: Incident, people: list[str], *, deps: WarRoomDeps, report: FlowReport
) -> None:
    wanted = list(dict.fromkeys(p for p in people if is_slack_user(p)))
    if not wanted or incident.channel_id is None:
        return
    for failure in deps.chat.invite(incident.channel_id, wanted):
        if failure.error != "already_in_channel":
            report.problems.append(f"Could not invite <@{failure.user_id}>: `{failure.error}`")


def refresh_messages(incident: Incident, *, deps: WarRoomDeps) -> list[str]:
    """Edit the header and the announcement in place; return what could not be edited."""
    problems = []
    data = {"incident": incident_data(incident, now=deps.clock.now())}
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


def _ensure_channel(incident: Incident, *, deps: WarRoomDeps, actor: str) -> Incident:
    if incident.channel_id:
        return incident
    prefix = deps.settings.channel_prefix
    for attempt in range(NAME_ATTEMPTS):
        suffix = "" if attempt == 0 else f"-{attempt + 1}"
        name = channel_name(prefix, incident.number, incident.title, suffix=suffix)
        try:
            channel_id = deps.chat.create_channel(name, private=deps.settings.private_channels)
        except NameTakenError:
            continue
        except ChatError as exc:
            timeline.append(
                deps.store,
                clock=deps.clock,
                incident_id=incident.id,
                actor="hotfix-bot",
                kind="step_failed",
                text=f"Could not create the war room channel: {exc.error}",
                data={"step": "channel", "error": exc.error, "method": exc.method},
            )
            raise WarRoomError(
                f"{incident.id} is declared and recorded, but its war room channel could not be"
                f" created (`{exc.error}`).",
                hint=f"Run `/hotfix incident war-room --incident {incident.id}` once Slack answers,"
                f" or create a channel by hand and keep the timeline with `/hotfix note {incident.id} …`.",
            ) from exc
        if repository.set_if_unset(
            deps.store, incident.id, channel_id=channel_id, channel_name=name
        ):
            timeline.append(
                deps.store,
                clock=deps.clock,
                incident_id=incident.id,
                actor=actor,
                kind="war_room_created",
                text=f"War room #{name} created",
                data={
                    "channel_id": channel_id,
                    "channel_name": name,
                    "private": deps.settings.private_channels,
                },
            )
        return repository.get(deps.store, incident.id)
    raise WarRoomError(
        f"{incident.id} is declared, but no free channel name was found"
        f" after {NAME_ATTEMPTS} tries.",
        hint="Archive old incident channels or change incidents.channel_prefix.",
    )


def _invite(incident: Incident, deps: WarRoomDeps, actor: str, report: FlowReport) -> None:
    people = [actor, incident.declared_by]
    if incident.commander:
        people.append(incident.commander)
    before = len(report.problems)
    people += responders_for(incident.severity, deps=deps, report=report)
    invite_people(incident, people, deps=deps, report=report)
    failures = report.problems[before:]
    if failures:
        timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor="hotfix-bot",
            kind="step_failed",
            text="Some people could not be invited to the war room",
            data={"step": "invite", "problems": failures},
        )


def _bookmarks(incident: Incident, deps: WarRoomDeps) -> None:
    assert incident.channel_id is not None
    row = deps.store.query_one(
        "SELECT bookmarks_added_at FROM incidents WHERE id = ?", (incident.id,)
    )
    if not deps.settings.bookmarks or (row and row["bookmarks_added_at"]):
        return  # a repaired war room does not get its bookmarks twice
    for bookmark in deps.settings.bookmarks:
        link = bookmark.link.replace("{incident_id}", incident.id)
        deps.chat.add_bookmark(incident.channel_id, title=bookmark.title, link=link)
    repository.set_if_unset(deps.store, incident.id, bookmarks_added_at=isoformat(deps.clock.now()))


def _post_header(incident: Incident, deps: WarRoomDeps) -> None:
    if incident.header_ts or incident.channel_id is None:
        return
    data = {"incident": incident_data(incident, now=deps.clock.now())}
    posted = deps.chat.post(incident.channel_id, Message("incident_header", data))
    repository.set_if_unset(deps.store, incident.id, header_ts=posted.ts)


def _announce(incident: Incident, deps: WarRoomDeps) -> None:
    settings = deps.settings
    if incident.announcement_ts or settings.announcement_channel is None:
        return
    data = {"incident": incident_data(incident, now=deps.clock.now())}
    posted = deps.chat.post(settings.announcement_channel, Message("incident_announcement", data))
    repository.set_if_unset(
        deps.store,
        incident.id,
        announcement_channel_id=posted.channel_id,
        announcement_ts=posted.ts,
    )
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor="hotfix-bot",
        kind="announced",
        text="Initial notification posted",
        data={"channel_id": posted.channel_id, "ts": posted.ts},
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
    deps.chat.post(channel, Message("escalation", data))
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor="hotfix-bot",
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
    posted = deps.chat.post(incident.channel_id, Message("playbook", data))
    repository.set_if_unset(deps.store, incident.id, playbook_ts=posted.ts)


def _problem(
    report: FlowReport, deps: WarRoomDeps, actor: str, *, step: str, error: ChatError
) -> None:
    report.problems.append(f"Step `{step}` failed: `{error.error}`")
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=report.incident.id,
        actor="hotfix-bot",
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
