"""What customers are told: only what a person typed for them, and the public facts.

Customer templates (`templates/comms/customer_*.txt.j2`: the status page and customer
email) get `customer_data` and nothing else. Notes, root-cause hypotheses, the title, names
and the war room's chatter never reach them: a person types customer words into `--public`
(or the publish form), and the rest is the status, the affected services and the times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.clock import isoformat
from services.comms.news import IncidentNews, Occasion
from services.comms.templates import TextTemplates
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
    }


def customer_text(
    news: IncidentNews, templates: TextTemplates, *, affected: list[str] | None = None
) -> CustomerText:
    data = customer_data(news, affected=affected)
    name = TEMPLATE_BY_OCCASION.get(news.occasion, "comms/customer_update.txt.j2")
    title = " ".join(templates.render_file(TITLE_TEMPLATE, data).split())
    return CustomerText(title=title, body=templates.render_file(name, data).strip())
