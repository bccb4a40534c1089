"""The war room's channel: its name, its creation (once, even across a crash), its record.

The name asked of Slack is stored before asking (`channel_pending`), so a flow cut short
between Slack's answer and its record finds the channel instead of opening a second one.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import TYPE_CHECKING

from services import timeline
from services.chat import ChatError, NameTakenError
from services.errors import UserFacingError
from services.incidents import records
from services.incidents.model import Incident
from services.store import Store

if TYPE_CHECKING:
    from services.incidents.war_room import WarRoomDeps

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


class WarRoomError(UserFacingError):
    """The war room channel could not be created; the incident itself is recorded.

    `retryable`: Slack was unavailable, so the scheduler's tick tries again by itself.
    """

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


def ensure_channel(incident: Incident, *, deps: WarRoomDeps, actor: str) -> Incident:
    if incident.channel_id:
        # A crash may have come between recording the channel and its event.
        if deps.resuming and not timeline.latest(
            deps.store, incident_id=incident.id, kind="war_room_created"
        ):
            note_war_room_created(incident, deps=deps, actor=actor)
        return incident
    pending = _pending_channel(incident.id, deps.store)
    if pending is not None:
        # Asked of Slack before, but the answer was never recorded (a crash, a timeout):
        # the channel may well exist, and a second war room would split the responders.
        found = _find_channel(pending, deps)
        if found is not None:
            return _record_channel(incident, found, pending, deps=deps, actor=actor)
    prefix = deps.settings.channel_prefix
    for attempt in range(NAME_ATTEMPTS):
        suffix = "" if attempt == 0 else f"-{attempt + 1}"
        name = channel_name(prefix, incident.number, incident.title, suffix=suffix)
        deps.store.conn.execute(
            "UPDATE incidents SET channel_pending = ? WHERE id = ?", (name, incident.id)
        )
        try:
            channel_id = deps.chat.create_channel(name, private=deps.settings.private_channels)
        except NameTakenError:
            continue
        except ChatError as exc:
            timeline.append(
                deps.store,
                clock=deps.clock,
                incident_id=incident.id,
                actor=timeline.BOT_ACTOR,
                kind="step_failed",
                text=f"Could not create the war room channel: {exc.error}",
                data={"step": "channel", "error": exc.error, "method": exc.method},
            )
            if exc.retryable:
                raise WarRoomError(
                    f"{incident.id} declared and recorded; war room pending: Slack is unavailable"
                    f" (`{exc.error}`), the bot will retry.",
                    hint="The war room opens by itself once Slack answers; meanwhile keep the"
                    f" timeline with `/hotfix note {incident.id} …`.",
                    retryable=True,
                ) from exc
            raise WarRoomError(
                f"{incident.id} is declared and recorded, but its war room channel could not be"
                f" created (`{exc.error}`).",
                hint=f"Run `/hotfix incident war-room --incident {incident.id}` once Slack answers,"
                f" or create a channel by hand and keep the timeline with `/hotfix note {incident.id} …`.",
            ) from exc
        return _record_channel(incident, channel_id, name, deps=deps, actor=actor)
    raise WarRoomError(
        f"{incident.id} is declared, but no free channel name was found"
        f" after {NAME_ATTEMPTS} tries.",
        hint="Archive old incident channels or change incidents.channel_prefix.",
    )


def _pending_channel(incident_id: str, store: Store) -> str | None:
    row = store.query_one("SELECT channel_pending FROM incidents WHERE id = ?", (incident_id,))
    return row["channel_pending"] if row else None


def _find_channel(name: str, deps: WarRoomDeps) -> str | None:
    try:
        return deps.chat.find_channel(name)
    except ChatError as exc:
        log.warning("could not look for channel #%s: %s", name, exc.error)
        return None


def _record_channel(
    incident: Incident, channel_id: str, name: str, *, deps: WarRoomDeps, actor: str
) -> Incident:
    records.set_if_unset(deps.store, incident.id, channel_id=channel_id, channel_name=name)
    recorded = records.get(deps.store, incident.id)
    if recorded.channel_id == channel_id:  # not another flow's channel, recorded meanwhile
        note_war_room_created(recorded, deps=deps, actor=actor)
    return recorded


def note_war_room_created(incident: Incident, *, deps: WarRoomDeps, actor: str) -> None:
    """The `war_room_created` event, once (a resumed flow may find it missing)."""
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=incident.id,
        actor=actor,
        kind="war_room_created",
        text=f"War room #{incident.channel_name} created",
        data={
            "channel_id": incident.channel_id,
            "channel_name": incident.channel_name,
            "private": deps.settings.private_channels,
        },
        dedup_key=f"war_room_created:{incident.id}",
    )
