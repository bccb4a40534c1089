"""Changes during an incident: status updates, roles, severity, notes, pins, resolution.

Every change writes its timeline event (with old and new values) before any
chat call, then edits the header and the announcement in place. Chat
failures are returned as problems for the caller to show; the change stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services import timeline
from services.clock import isoformat
from services.errors import ConflictError, UserFacingError
from services.incidents import change_notices, records
from services.incidents.announcement import unannounced
from services.incidents.model import Incident, Role, Severity, Status
from services.incidents.responders import require_member
from services.incidents.war_room import WarRoomDeps


@dataclass
class ChangeResult:
    incident: Incident
    problems: list[str] = field(default_factory=list)
    changed: bool = True


def _require_open(incident: Incident) -> None:
    if not incident.is_open:
        raise ConflictError(
            f"{incident.id} is resolved; nothing was changed.",
            hint="Declare a new incident if the problem is back.",
        )


def _cadence(incident_severity: Severity, deps: WarRoomDeps) -> timedelta:
    return timedelta(minutes=deps.settings.policy(incident_severity.value).update_every_minutes)


def _mark_acknowledged(incident: Incident, deps: WarRoomDeps, now: datetime) -> None:
    """Acknowledged = the first action by anyone after the declaration."""
    records.set_if_unset(deps.store, incident.id, acknowledged_at=isoformat(now))


Tell = Callable[[ChangeResult, timeline.TimelineEvent], None]


@dataclass(frozen=True)
class _Change:
    """One compare-and-set on the incident and the timeline event that records it."""

    expect: dict[str, object]
    values: dict[str, object]
    conflict: ConflictError  # raised when `expect` no longer holds
    kind: str
    text: str
    data: dict[str, object]


def _replayed(
    incident: Incident, key: str | None, deps: WarRoomDeps, tell: Tell
) -> ChangeResult | None:
    """The answer to a request whose change is recorded already (a Slack retry, a replay after
    a crash), or None. Resumed after a crash, it tells what the crash may have swallowed:
    every message is keyed, so what did go out is found, not sent again."""
    earlier = timeline.by_dedup_key(deps.store, key) if key else None
    if earlier is None:
        return None
    result = ChangeResult(records.get(deps.store, incident.id), changed=False)
    if deps.resuming:
        tell(result, earlier)
    return result


def _apply_once(
    incident: Incident,
    change: _Change,
    *,
    deps: WarRoomDeps,
    actor: str,
    at: datetime,
    key: str | None,
    tell: Tell,
) -> ChangeResult:
    """Record the change and its event in one transaction (once per `key`), then tell."""
    with deps.store.transaction():
        # Inside the write lock: a concurrent replay waits here and then sees the first one.
        if key and timeline.has_dedup_key(deps.store, key):
            return ChangeResult(records.get(deps.store, incident.id), changed=False)
        if not records.update(deps.store, incident.id, expect=change.expect, values=change.values):
            raise change.conflict
        _mark_acknowledged(incident, deps, at)
        event = timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=actor,
            kind=change.kind,
            text=change.text,
            data=change.data,
            at=at,
            dedup_key=key,
        )
    result = ChangeResult(records.get(deps.store, incident.id))
    tell(result, event)
    return result


def post_update(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    actor: str,
    status: Status | None,
    message: str,
    eta: str | None,
    broadcast: bool,
    request_key: str | None = None,
    public: str | None = None,
) -> ChangeResult:
    """`request_key` (Slack's trigger id) makes a replayed request post nothing twice.
    `public`: words for customers (the status page, customer email); nothing else is."""
    _require_open(incident)
    if status is Status.RESOLVED:
        raise UserFacingError(
            "Use `/hotfix incident resolve` to resolve an incident.",
            hint="It records the root cause and action items and posts the resolution notice.",
        )
    now = deps.clock.now()
    new_status = status or incident.status
    values: dict[str, object] = {
        "status": new_status.value,
        "last_update_at": isoformat(now),
        "next_update_due_at": isoformat(now + _cadence(incident.severity, deps)),
        "reminders_missed": 0,
    }
    if eta is not None:
        values["eta"] = eta
    if new_status is Status.MONITORING and incident.mitigated_at is None:
        values["mitigated_at"] = isoformat(now)
    dedup_key = f"update:{request_key}" if request_key else None

    def tell(result: ChangeResult, event: timeline.TimelineEvent) -> None:
        result.problems += change_notices.about_update(
            result.incident, event, key=dedup_key, deps=deps
        )

    if (replayed := _replayed(incident, dedup_key, deps, tell)) is not None:
        return replayed
    change = _Change(
        expect={"status": incident.status.value},
        values=values,
        conflict=ConflictError(
            f"{incident.id} changed while you were typing; nothing was posted.",
            hint="Check the header message and post your update again.",
        ),
        kind="status_update",
        text=message or f"Status: {new_status.label}",
        data={
            "status": {"old": incident.status.value, "new": new_status.value},
            "eta": {"old": incident.eta, "new": eta if eta is not None else incident.eta},
            "message": message,
            "broadcast": broadcast,
            **({"public": public} if public else {}),
        },
    )
    result = _apply_once(incident, change, deps=deps, actor=actor, at=now, key=dedup_key, tell=tell)
    if broadcast and result.changed:
        # The update itself is in the war room either way.
        result.problems += unannounced(result.incident, deps.settings, what="The broadcast")
    return result


def assign_role(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    actor: str,
    role: Role,
    user_id: str,
    request_key: str | None = None,
) -> ChangeResult:
    """`request_key` (Slack's trigger id) makes a replayed request invite and DM nobody twice."""
    _require_open(incident)
    dedup_key = f"role:{request_key}" if request_key else None

    def tell(result: ChangeResult, event: timeline.TimelineEvent) -> None:
        result.problems += change_notices.about_role(result.incident, event, deps=deps)

    if (replayed := _replayed(incident, dedup_key, deps, tell)) is not None:
        return replayed
    require_member(user_id, chat=deps.chat)
    old = incident.role(role)
    if old == user_id:
        return ChangeResult(incident, changed=False)
    change = _Change(
        expect={role.value: old},
        values={role.value: user_id},
        conflict=ConflictError(
            f"The {role.label.lower()} of {incident.id} changed meanwhile; try again."
        ),
        kind="role_assigned",
        text=f"{role.label}: {user_id}",
        data={"role": role.value, "old": old, "new": user_id},
    )
    now = deps.clock.now()
    return _apply_once(incident, change, deps=deps, actor=actor, at=now, key=dedup_key, tell=tell)


def change_severity(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    actor: str,
    severity: Severity,
    request_key: str | None = None,
) -> ChangeResult:
    """`request_key` (Slack's trigger id) makes a replayed request announce nothing twice."""
    _require_open(incident)
    dedup_key = f"severity:{request_key}" if request_key else None

    def tell(result: ChangeResult, event: timeline.TimelineEvent) -> None:
        result.problems += change_notices.about_severity(result.incident, event, deps=deps)

    if (replayed := _replayed(incident, dedup_key, deps, tell)) is not None:
        return replayed
    if severity is incident.severity:
        return ChangeResult(incident, changed=False)
    now = deps.clock.now()
    # A stricter cadence applies at once; a laxer one from the next update on.
    due = now + _cadence(severity, deps)
    if incident.next_update_due_at is not None:
        due = min(due, incident.next_update_due_at)
    change = _Change(
        expect={"severity": incident.severity.value},
        values={"severity": severity.value, "next_update_due_at": isoformat(due)},
        conflict=ConflictError(f"The severity of {incident.id} changed meanwhile; try again."),
        kind="severity_changed",
        text=f"Severity {incident.severity.label} → {severity.label}",
        data={"severity": {"old": incident.severity.value, "new": severity.value}},
    )
    return _apply_once(incident, change, deps=deps, actor=actor, at=now, key=dedup_key, tell=tell)


def add_note(
    incident: Incident, *, deps: WarRoomDeps, actor: str, text: str, request_key: str | None = None
) -> bool:
    """Add a note once; False when this request (a Slack retry) was already recorded."""
    _, created = timeline.append_once(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=actor,
        kind="note",
        text=text,
        data={},
        dedup_key=f"note:{request_key}" if request_key else None,
    )
    return created


def pin_message(
    incident: Incident, *, deps: WarRoomDeps, actor: str, channel_id: str, ts: str
) -> bool:
    """Add a war-room message to the timeline at its original time; False if already pinned."""
    dedup_key = f"pin:{channel_id}:{ts}"
    if timeline.has_dedup_key(deps.store, dedup_key):
        return False
    message = deps.chat.read_message(channel_id, ts)
    if message is None:
        return False
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=message.user,
        kind="pinned_message",
        text=message.text,
        data={"channel_id": channel_id, "ts": ts, "pinned_by": actor},
        at=datetime.fromtimestamp(float(ts), tz=UTC),
        dedup_key=dedup_key,
    )
    return True


# A Slack user, or a console user (`<@console:bob>`: @bob typed in the console).
_OWNER = re.compile(r"<@([UW][A-Z0-9]+|(?:console|cli):[A-Za-z0-9][\w.\-]{0,63})(?:\|[^>]*)?>")


def parse_action_items(text: str) -> list[tuple[str, str | None]]:
    """`add validation @bob; add alert` → [("add validation", "U…"), ("add alert", None)]."""
    items = []
    for raw in re.split(r"[;\n]", text):
        owner_match = _OWNER.search(raw)
        owner = owner_match.group(1) if owner_match else None
        item = " ".join(_OWNER.sub("", raw).split()).strip(" -•*")
        if item:
            items.append((item, owner))
    return items


def resolve(
    incident: Incident,
    *,
    deps: WarRoomDeps,
    actor: str,
    root_cause: str,
    action_items: list[tuple[str, str | None]],
    resolution: str = "",
    public: str | None = None,
) -> ChangeResult:
    if incident.status is Status.RESOLVED and deps.resuming:
        # Run again after a crash: the notice may never have gone out; post it if missing.
        event = timeline.latest(deps.store, incident_id=incident.id, kind="resolved")
        if event is not None:
            result = ChangeResult(incident, changed=False)
            result.problems += change_notices.about_resolution(result.incident, event, deps=deps)
            return result
    _require_open(incident)
    now = deps.clock.now()
    postmortem_due = now + timedelta(hours=deps.settings.postmortem_after_hours)
    with deps.store.transaction():
        values = {
            "status": Status.RESOLVED.value,
            "resolved_at": isoformat(now),
            "root_cause": root_cause,
            "next_update_due_at": None,
            "postmortem_due_at": isoformat(postmortem_due),
        }
        if incident.mitigated_at is None:
            values["mitigated_at"] = isoformat(now)
        if not records.update(
            deps.store, incident.id, expect={"status": incident.status.value}, values=values
        ):
            raise ConflictError(
                f"{incident.id} changed meanwhile; nothing was resolved.", hint="Try again."
            )
        _mark_acknowledged(incident, deps, now)
        for text, owner in action_items:
            records.add_action_item(
                deps.store, clock=deps.clock, incident_id=incident.id, text=text, owner=owner
            )
        event = timeline.append(
            deps.store,
            clock=deps.clock,
            incident_id=incident.id,
            actor=actor,
            kind="resolved",
            text=f"Resolved. Root cause: {root_cause}",
            data={
                "status": {"old": incident.status.value, "new": Status.RESOLVED.value},
                "root_cause": root_cause,
                "resolution": resolution,
                "action_items": [{"text": t, "owner": o} for t, o in action_items],
                **({"public": public} if public else {}),
            },
            at=now,
        )
    result = ChangeResult(records.get(deps.store, incident.id))
    result.problems += change_notices.about_resolution(result.incident, event, deps=deps)
    return result
