"""Which audiences an incident's news owes an email, and the email's words.

Per severity (`email.severities`): `declared` audiences get the initial notification
(once per incident: also when a severity raise first makes them an audience of it),
`broadcast` ones every `--broadcast` status update, `resolved` ones the resolution.
The words are rendered here, when the news is planned, and stored with the delivery:
a mail sent again after a crash is the same mail.

Customer audiences read only `customer_text` (the runbook's customer templates fed the
public facts and `--public` words); executives an escalation-style summary; internal
audiences that and the details (description, root cause, action items, people).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.clock import isoformat
from services.comms.customer import customer_text
from services.comms.deliveries import Outgoing
from services.comms.email.settings import EmailOccasions, EmailSettings, Messages
from services.comms.news import IncidentNews, Occasion
from services.comms.templates import TextTemplates
from services.incidents.model import Severity
from services.incidents.presenting import incident_data

CHANNEL = "email"
ACTION = "send"


@dataclass(frozen=True)
class Wanted:
    kind: str  # "initial", "update", "resolved"
    audiences: list[str]
    once_per_incident: bool = False


class EmailPlanner:
    def __init__(
        self, *, settings: EmailSettings, templates: TextTemplates, zone: ZoneInfo
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.zone = zone

    def plan(self, news: IncidentNews) -> list[Outgoing]:
        wanted = self._wanted(news)
        if wanted is None:
            return []
        return [
            Outgoing(
                channel=CHANNEL,
                action=ACTION,
                key=f"{wanted.kind}:{name}",
                audience=name,
                payload=self._payload(news, name, wanted.kind),
                once_per_incident=wanted.once_per_incident,
            )
            for name in wanted.audiences
            if name in self.settings.audiences
        ]

    def _occasions(self, severity: Severity | str) -> EmailOccasions:
        return self.settings.severities.get(Severity(severity), EmailOccasions())

    def _wanted(self, news: IncidentNews) -> Wanted | None:
        occasions = self._occasions(news.incident.severity)
        match news.occasion:
            case Occasion.DECLARED:
                return Wanted("initial", occasions.declared, once_per_incident=True)
            case Occasion.SEVERITY_CHANGED:
                # Audiences of the new severity's declaration that the old one did not
                # have learn of the incident now (a SEV3 raised to SEV1 reaches the execs).
                old = news.details.get("old_severity")
                before = set(self._occasions(old).declared) if old else set()
                new = [name for name in occasions.declared if name not in before]
                return Wanted("initial", new, once_per_incident=True)
            case Occasion.UPDATED if news.broadcast:
                return Wanted("update", occasions.broadcast)
            case Occasion.RESOLVED:
                return Wanted("resolved", occasions.resolved)
        return None  # a quiet update, a publish (the status page's), a page

    def _payload(self, news: IncidentNews, audience: str, kind: str) -> dict[str, Any]:
        messages = self.settings.audiences[audience].messages
        subject, text, html = self._words(news, messages, kind)
        return {
            "kind": kind,
            "messages": messages,
            # Customers do not see each other's addresses (the To: header is undisclosed).
            "to": list(self.settings.audiences[audience].to),
            "show_to": messages != "customer",
            "subject": subject,
            "text": text,
            "html": html,
            "date": isoformat(news.event.at),
            "incident_started": isoformat(news.incident.declared_at),
        }

    def _words(self, news: IncidentNews, messages: Messages, kind: str) -> tuple[str, str, str]:
        if messages == "customer":
            words = customer_text(news, self.templates)
            data: dict[str, Any] = {
                "subject": words.title,
                "body": words.body,
                "paragraphs": [p.splitlines() for p in words.body.split("\n\n") if p.strip()],
            }
            return words.title, *self._render("customer", data)
        data = self._incident_facts(news, kind, internal=messages == "internal")
        subject = self.templates.render_file("comms/email_subject.txt.j2", data)
        return subject, *self._render(messages, data)

    def _render(self, messages: str, data: dict[str, Any]) -> tuple[str, str]:
        text = self.templates.render_file(f"comms/email_{messages}.txt.j2", data)
        html = self.templates.render_file(f"comms/email_{messages}.html.j2", data)
        return text.strip() + "\n", html

    def _incident_facts(self, news: IncidentNews, kind: str, *, internal: bool) -> dict[str, Any]:
        incident = news.incident
        event = news.event.data
        occasion = {"initial": "declared", "update": "updated"}.get(kind, kind)
        message = str(event.get("resolution") or "") if kind == "resolved" else ""
        if kind == "update":
            message = str(event.get("message") or "")
        summary = [
            ("Severity", f"{incident.severity.label} ({incident.severity.meaning})"),
            ("Impact", incident.impact),
            ("Status", "Resolved" if kind == "resolved" else incident.status.label),
            ("Services", ", ".join(incident.services)),
            ("Commander", incident.commander or "not assigned"),
            ("War room", f"#{incident.channel_name}" if incident.channel_name else ""),
            ("ETA", (incident.eta or "") if kind != "resolved" else ""),
            ("Declared", self._time(incident.declared_at)),
            ("Resolved", self._time(incident.resolved_at) if kind == "resolved" else ""),
        ]
        details = [
            ("Description", incident.description),
            ("Declared by", incident.declared_by),
            ("Scribe", incident.scribe or ""),
            ("Communications lead", incident.comms or ""),
            ("Previous severity", str(news.details.get("old_severity") or "").upper()),
            ("Root cause", str(event.get("root_cause") or "") if kind == "resolved" else ""),
        ]
        return {
            "occasion": occasion,
            "incident": incident_data(incident, now=news.event.at),
            "summary": [(label, value) for label, value in summary if value],
            "details": [(label, value) for label, value in details if value] if internal else [],
            "action_items": list(event.get("action_items") or []) if internal else [],
            "message": message,
        }

    def _time(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if moment else ""
