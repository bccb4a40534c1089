"""Builds the email integration when hotfix.yml configures it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.comms.registry import BuildContext, Integration

log = logging.getLogger(__name__)


def build(context: BuildContext) -> Integration | None:
    settings = context.settings.email
    if settings is None:
        return None
    from services.comms.email.channel import EmailChannel
    from services.comms.email.client import Credentials, SmtpClient
    from services.comms.email.planner import EmailPlanner
    from services.comms.registry import Integration

    username = context.environ.get(settings.username_env) or ""
    password = context.environ.get(settings.password_env) or ""
    if bool(username) != bool(password):
        # Names only: the values are secrets.
        log.warning(
            "email: only one of %s and %s is set; mail is sent without logging in",
            settings.username_env,
            settings.password_env,
        )
    credentials = Credentials(username, password) if username and password else None
    client = SmtpClient(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.starttls,
        timeout=settings.timeout_seconds,
        credentials=credentials,
        ca_file=settings.ca_file,
    )
    return Integration(
        channel=EmailChannel(
            settings=settings, client=client, store=context.store, clock=context.clock
        ),
        planner=EmailPlanner(
            settings=settings, templates=context.templates, zone=context.settings.zone
        ),
    )
