"""Who hears about a deployment beyond its card: the announcement thread, the people to call."""

from __future__ import annotations

import logging

from services.chat import ChatError, Message
from services.deploy import card
from services.deploy.engine.deps import DeployDeps
from services.deploy.model import Deployment
from services.incidents import records as incidents
from services.incidents.model import Incident

log = logging.getLogger(__name__)


def incident_of(deps: DeployDeps, deployment: Deployment) -> Incident | None:
    incident_id = deployment.incident_id
    return incidents.by_id(deps.store, incident_id) if incident_id else None


def notify(deps: DeployDeps, deployment: Deployment) -> None:
    """--notify-stakeholders: the outcome goes to the incident's announcement thread."""
    incident = incident_of(deps, deployment)
    if incident is None or not incident.announcement_channel_id or not incident.announcement_ts:
        return
    payload = card.card_data(deps.store, deployment, clock=deps.clock)
    try:
        deps.chat.post(
            incident.announcement_channel_id,
            Message("deploy_outcome", payload),
            thread_ts=incident.announcement_ts,
        )
    except ChatError as exc:
        log.warning("%s: stakeholders not notified: %s", deployment.id, exc.error)


def people_to_call(deps: DeployDeps, deployment: Deployment) -> list[str]:
    """The incident's commander and its severity's responders (users and groups)."""
    incident = incident_of(deps, deployment)
    if incident is None:
        return []
    people = [incident.commander] if incident.commander else []
    return people + list(deps.settings.incidents.policy(incident.severity.value).responders)
