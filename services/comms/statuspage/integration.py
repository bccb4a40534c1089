"""Builds the statuspage integration when hotfix.yml configures it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from services.comms.statuspage.channel import StatuspageChannel
from services.comms.statuspage.client import StatuspageClient
from services.comms.statuspage.planner import StatuspagePlanner
from services.comms.statuspage.settings import StatuspageSettings

if TYPE_CHECKING:
    from services.comms.registry import BuildContext, Integration

log = logging.getLogger(__name__)


def missing_key(settings: StatuspageSettings, environ: Mapping[str, str]) -> str | None:
    """The environment variable that should hold the API key, when it is unset or empty."""
    value = environ.get(settings.api_key_env, "")
    return None if value.strip() else settings.api_key_env


def build(context: BuildContext) -> Integration | None:
    from services.comms.registry import Integration

    settings = context.settings.statuspage
    if settings is None:
        return None
    missing = missing_key(settings, context.environ)
    client = None
    if missing:
        # Deliveries wait for nothing: each is refused with this sentence, in the war room.
        log.error(
            "statuspage is configured but %s is not set: status page deliveries will be"
            " refused until it is set and the bot restarted",
            missing,
        )
    else:
        client = StatuspageClient(
            api_url=settings.api_url,
            page_id=settings.page_id,
            api_key=context.environ[settings.api_key_env].strip(),
            requests_per_second=settings.requests_per_second,
        )
    channel = StatuspageChannel(
        client=client,
        store=context.store,
        clock=context.clock,
        chat=context.chat,
        missing_key=missing,
    )
    planner = StatuspagePlanner(settings=settings, store=context.store, templates=context.templates)
    return Integration(channel=channel, planner=planner)
