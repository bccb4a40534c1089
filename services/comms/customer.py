"""What customers are told: only what a person typed for them, and the public facts.

Customer templates (`templates/comms/customer_*.txt.j2`: the status page and customer
email) get `customer_data` and nothing else. Notes, root-cause hypotheses, the title, names
and the war room's chatter never reach them: a person types customer words into `--public`
(or the publish form), and the rest is the status, the affected services and the times.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.clock import isoformat
from services.comms.news import IncidentNews, Occasion
from services.comms.templates import TextTemplates
from services.errors import UserFacingError
from services.incidents.model import Status

# The runbook's customer templates: Initial Notification, Status Update, Resolution Notice.
TEMPLATE_BY_OCCASION = {
    Occasion.DECLARED: "comms/customer_initial.txt.j2",
    Occasion.PUBLISHED: "comms/customer_initial.txt.j2",
    Occasion.UPDATED: "comms/customer_update.txt.j2",
    Occasion.SEVERITY_CHANGED: "comms/customer_update.txt.j2",
    Occasion.RESOLVED: "comms/customer_resolved.txt.j2",
}
TITLE_TEMPLATE = "comms/customer_title.txt.j2"

# The most a person may type for customers. Statuspage publishes no limit for an incident
# update's body; this is the largest text input Slack's forms allow (the update and resolve
# forms' "Public message"), so the command, the console and the form accept the same words.
PUBLIC_LIMIT = 3000
# Slack's markup for a person, a channel, a user group or @here: customers would read ids.
_SLACK_MARKUP = re.compile(r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!subteam\^[A-Z0-9]+|![a-z]+)[^>]*>")
# Direction overrides and isolates make text read differently from what was typed (the
# plain right-to-left and left-to-right marks, which Arabic or Hebrew text needs, are kept).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def public_words(text: str | None, *, flag: str = "--public") -> str | None:
    """What a person typed for customers, checked: None when nothing was given; a clear
    refusal (what was wrong, what to do) rather than words customers should not read."""
    if text is None:
        return None
    words = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not words:
        raise UserFacingError(
            f"{flag} is empty: nothing would be published.",
            hint=f'Type what customers should read, e.g. {flag}="We are investigating failed'
            f' payments", or leave {flag} out.',
        )
    if len(words) > PUBLIC_LIMIT:
        raise UserFacingError(
            f"{flag} has {len(words)} characters; customers get at most {PUBLIC_LIMIT}.",
            hint="Shorten it to a few sentences: what customers see, what to do, when the next"
            " update comes. Nothing was published.",
        )
    markup = _SLACK_MARKUP.search(words)
    if markup:
        raise UserFacingError(
            f"{flag} mentions someone or something in Slack ({markup.group(0)[:40]}): customers"
            " would read Slack's ids, and people's names stay inside the company.",
            hint="Write the words without @mentions or #channels. Nothing was published.",
        )
    if _BIDI_CONTROLS.search(words) or _CONTROLS.search(words):
        raise UserFacingError(
            f"{flag} contains invisible control characters (e.g. a direction override) that"
            " make it read differently from what you see.",
            hint="Retype the words (a plain right-to-left mark is fine). Nothing was published.",
        )
    # Paragraphs are kept; a wall of empty lines is not.
    return re.sub(r"\n{3,}", "\n\n", words)


def affected_services(
    typed: Iterable[str], configured: Iterable[str], *, flag: str = "--service"
) -> tuple[str, ...]:
    """The services named for an incident, each one configured (did you mean…), in the
    order typed, once each."""
    known = sorted(configured)
    chosen: list[str] = []
    for raw in typed:
        name = raw.strip().lower()
        if name in chosen:
            continue
        if not known:
            raise UserFacingError(
                f"{flag} {raw[:40]!r}: no services are configured.",
                hint="Add the service under `services:` in the bot's config (hotfix.yml), or"
                f" leave {flag} out.",
            )
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            raise UserFacingError(
                f"{flag} {raw[:40]!r} is not a configured service.{guess}",
                hint=f"Services: {', '.join(known)}.",
            )
        chosen.append(name)
    return tuple(chosen)


@dataclass(frozen=True)
class CustomerText:
    title: str  # the status page incident's name, the email's subject
    body: str


def customer_data(news: IncidentNews, *, affected: list[str] | None = None) -> dict[str, Any]:
    """The only data a customer template sees. `affected`: the services' public names (the
    status page's component names), by default the services as configured."""
    incident = news.incident
    status = Status.RESOLVED if news.occasion is Occasion.RESOLVED else incident.status
    return {
        "occasion": news.occasion.value,
        "status": status.value,
        "status_label": status.label,
        "public": news.public or "",
        "affected": list(affected if affected is not None else incident.services),
        "reference": incident.id,
        "started_at": isoformat(incident.declared_at),
        "resolved_at": isoformat(incident.resolved_at) if incident.resolved_at else None,
        "at": isoformat(news.event.at),
        # The same moments as customers read them, in UTC (customers live in every zone).
        "started_utc": _utc(incident.declared_at),
        "resolved_utc": _utc(incident.resolved_at) if incident.resolved_at else None,
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def customer_text(
    news: IncidentNews, templates: TextTemplates, *, affected: list[str] | None = None
) -> CustomerText:
    data = customer_data(news, affected=affected)
    name = TEMPLATE_BY_OCCASION.get(news.occasion, "comms/customer_update.txt.j2")
    title = " ".join(templates.render_file(TITLE_TEMPLATE, data).split())
    return CustomerText(title=title, body=templates.render_file(name, data).strip())
