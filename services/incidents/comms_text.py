"""What was sent outside Slack, as sentences: the timeline view and the postmortem.

The dispatcher writes a `comms_sent` or `comms_failed` timeline row for every delivery
(data: channel, action, audience, link; `error` for a failure). These rows are worded
here from that data ("status page incident opened", "customers emailed", "paged @alice");
the postmortem puts them together per system with times (services/incidents/postmortem.py).
An action this module does not know is told with the row's own text, so a new integration
is readable before anyone words it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.people import DisplayNames
from services.timeline import TimelineEvent

KINDS = ("comms_sent", "comms_failed")

# The system a channel belongs to, by the start of its name ("statuspage", "pagerduty"…).
_SYSTEMS = (
    ("status", "status page"),
    ("pager", "paging"),
    ("paging", "paging"),
    ("email", "email"),
    ("smtp", "email"),
    ("mail", "email"),
)

# (system, action) -> (what was done, what was tried: it is followed by "failed");
# `{audience}` is who received it.
_PHRASES = {
    ("status page", "open_incident"): (
        "status page incident opened",
        "opening the status page incident",
    ),
    ("status page", "create_incident"): (
        "status page incident opened",
        "opening the status page incident",
    ),
    ("status page", "update_incident"): ("status page updated", "updating the status page"),
    ("status page", "resolve_incident"): (
        "status page incident resolved",
        "resolving the status page incident",
    ),
    ("paging", "trigger"): ("paged {audience}", "paging {audience}"),
    ("paging", "page"): ("paged {audience}", "paging {audience}"),
    ("paging", "acknowledge"): ("page acknowledged", "acknowledging the page"),
    ("paging", "resolve"): ("page resolved", "resolving the page"),
    ("email", "send"): ("{audience} emailed", "emailing {audience}"),
}
# Who a page or an email went to when the delivery names no audience.
_NOBODY_NAMED = {"paging": "on-call", "email": "people"}


def system_of(channel: str) -> str:
    """ "status page", "paging", "email", or the channel's own name."""
    name = channel.lower()
    for prefix, system in _SYSTEMS:
        if name.startswith(prefix):
            return system
    return channel


@dataclass(frozen=True)
class CommsLine:
    """One delivery as people read it."""

    system: str
    phrase: str  # "customers emailed", "opening the status page incident failed"
    failed: bool
    link: str | None
    error: str | None = None  # a failure's first line

    def sentence(self) -> str:
        text = self.phrase[:1].upper() + self.phrase[1:]
        if self.error:
            return f"{text}: {self.error}"
        return f"{text} ({self.link})" if self.link else text


def _data(event: TimelineEvent) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else {}


def comms_line(event: TimelineEvent, names: DisplayNames) -> CommsLine:
    """The row's delivery: what was sent to whom, or what failed and why."""
    data = _data(event)
    channel = str(data.get("channel") or "")
    system = system_of(channel) if channel else "outside Slack"
    action = str(data.get("action") or "")
    audience = data.get("audience")
    who = names.in_text(str(audience)) if audience else _NOBODY_NAMED.get(system, "")
    failed = event.kind == "comms_failed"
    phrases = _PHRASES.get((system, action))
    if phrases is None:
        # An action nobody worded yet: the channel's own summary (or the dispatcher's
        # "<channel> <action> failed: …") says it.
        phrase = names.in_text(event.text) or f"{channel} {action}".strip()
        return CommsLine(system, phrase, failed, _link(data))
    done, tried = phrases
    phrase = " ".join((tried if failed else done).format(audience=who).split())
    if not failed:
        return CommsLine(system, phrase, failed, _link(data))
    error = str(data.get("error") or "").strip().splitlines()
    return CommsLine(system, f"{phrase} failed", failed, None, error[0] if error else None)


def _link(data: dict[str, Any]) -> str | None:
    link = data.get("link")
    return str(link) if link else None
