"""Timeline rows as people read them, in the postmortem and the `timeline` command.

The stored text of a row is what was typed or said at the time; the row's data holds
the rest. A status update with a message was stored as the message alone: read back,
it names the status (and what it was) and the ETA. User ids become display names,
and times are given in the team's zone and in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.incidents.comms_text import KINDS as COMMS_KINDS
from services.incidents.comms_text import comms_line
from services.incidents.model import Status
from services.people import DisplayNames
from services.timeline import TimelineEvent


def in_zones(at: datetime, zone: ZoneInfo, fmt: str = "%H:%M") -> str:
    """ "15:41 CET (14:41 UTC)"; only once when the team works in UTC."""
    utc = at.astimezone(UTC)
    local = at.astimezone(zone)
    if str(zone) in ("UTC", "Etc/UTC"):
        return utc.strftime(fmt) + " UTC"
    return f"{local.strftime(fmt)} {local.strftime('%Z')} ({utc.strftime(fmt)} UTC)"


def _label(value: Any) -> str:
    try:
        return Status(str(value)).label
    except ValueError:
        return str(value)


def status_text(data: dict[str, Any], message: str) -> str:
    """ "Status: Identified (was Investigating) · ETA 15 minutes — message"."""
    found = data.get("status")
    status: dict[str, Any] = found if isinstance(found, dict) else {}
    new, old = status.get("new"), status.get("old")
    text = f"Status: {_label(new)}" if new else "Status update"
    if old and old != new:
        text += f" (was {_label(old)})"
    eta = data.get("eta")
    eta_now = eta.get("new") if isinstance(eta, dict) else eta
    if eta_now:
        text += f" · ETA {eta_now}"
    return f"{text} — {message}" if message else text


def describe(event: TimelineEvent, names: DisplayNames) -> str:
    """The row's text for a document: full sentences, people by name."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.kind == "status_update":
        message = str(data.get("message") or "")
        text = status_text(data, message)
    elif event.kind in COMMS_KINDS:
        return comms_line(event, names).sentence()
    else:
        text = event.text
    text = names.in_text(text)
    public = data.get("public")
    if public and event.kind in ("declared", "status_update", "resolved"):
        # What customers were told, word for word (people's names in it stay as typed).
        text += f' · Public: "{public}"'
    return text
