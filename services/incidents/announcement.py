"""Whether what goes through an incident's announcement reaches anyone.

`incident update --broadcast` and `deploy --notify-stakeholders` go to the announcement
channel (the thread of the incident's announcement); with no channel configured, or no
announcement posted, they reach nobody, and the person who asked must hear it.
"""

from __future__ import annotations

from services.incidents.model import Incident
from services.settings import IncidentSettings


def unannounced(
    incident: Incident, settings: IncidentSettings, *, what: str, fate: str = "went nowhere"
) -> list[str]:
    """Why `what` (a broadcast, a stakeholder notice) that goes through the incident's
    announcement reaches nobody, if it does: the person who asked for it must hear it."""
    if incident.announcement_ts:
        return []
    if settings.announcement_channel is None:
        return [
            f"{what} {fate}: no announcement channel is configured. Set"
            " `incidents.announcement_channel` to a channel id (C…) in the bot's config"
            " (hotfix.yml)."
        ]
    return [
        f"{what} {fate}: {incident.id} has no announcement in"
        f" {settings.announcement_channel} yet (Slack failed when it was declared)."
        f" `/hotfix incident war-room --incident {incident.id}` posts it."
    ]
