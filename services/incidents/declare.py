"""Declaring an incident: record it, then open the war room."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.incidents import records
from services.incidents.model import Severity
from services.incidents.outside import declared_outside
from services.incidents.records import NewIncident
from services.incidents.responders import require_member
from services.incidents.war_room import FlowReport, WarRoomDeps, open_war_room
from services.logcontext import bound


@dataclass(frozen=True)
class Declaration:
    title: str
    severity: Severity
    impact: str
    description: str
    commander: str | None
    declared_by: str
    origin_channel_id: str | None
    request_key: str | None = None  # Slack's trigger id: a replayed request declares nothing new
    services: tuple[str, ...] = ()  # the affected services (`--service`), for the status page
    public: str | None = None  # customer-facing words (`--public`): the status page's first update


@dataclass
class DeclareResult:
    report: FlowReport
    created: bool


def declare(declaration: Declaration, *, deps: WarRoomDeps) -> DeclareResult:
    if declaration.commander:
        require_member(declaration.commander, chat=deps.chat)
    cadence = deps.settings.policy(declaration.severity.value).update_every_minutes
    incident, created = records.create(
        deps.store,
        clock=deps.clock,
        new=NewIncident(
            title=declaration.title,
            severity=declaration.severity,
            impact=declaration.impact,
            description=declaration.description,
            commander=declaration.commander or declaration.declared_by,
            declared_by=declaration.declared_by,
            origin_channel_id=declaration.origin_channel_id,
            next_update_due_at=deps.clock.now() + timedelta(minutes=cadence),
            request_key=declaration.request_key,
            services=declaration.services,
            public=declaration.public,
            call_link_template=deps.settings.call_link,
        ),
    )
    if not created:
        # A replayed request (Slack retry, double submit) is answered with what exists.
        return DeclareResult(report=FlowReport(incident), created=False)
    with bound(incident_id=incident.id):
        # The pager and the status page before the war room: paging must not wait for Slack
        # (a rate limit, an outage). The war room's last step tells again after a crash;
        # what was planned already is not planned twice.
        told = declared_outside(incident, deps)
        report = open_war_room(incident, deps=deps, actor=declaration.declared_by)
    report.problems[:0] = told
    return DeclareResult(report=report, created=True)
