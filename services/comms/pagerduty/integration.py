"""Builds the pagerduty integration when hotfix.yml configures it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.comms.registry import BuildContext, Integration


def build(context: BuildContext) -> Integration | None:
    settings = context.settings.paging.pagerduty
    if settings is None:
        return None
    from services.comms.pagerduty.channel import PagerDutyChannel
    from services.comms.pagerduty.client import EventsClient
    from services.comms.pagerduty.planner import PagerDutyPlanner
    from services.comms.registry import Integration

    client = EventsClient(url=settings.events_url, timeout=settings.timeout_seconds)
    return Integration(
        channel=PagerDutyChannel(client=client, environ=context.environ, store=context.store),
        planner=PagerDutyPlanner(settings=settings, store=context.store),
    )
