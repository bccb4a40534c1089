"""`paging: pagerduty:` in hotfix.yml."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from services.comms.config import SERVICE_NAME, Section
from services.incidents.model import Severity
from services.patterns import HttpUrlText

ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class PagerDutySettings(Section):
    events_url: HttpUrlText = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty's Events API v2 endpoint.",
    )
    routing_key_env: str = Field(
        default="PAGERDUTY_ROUTING_KEY",
        pattern=ENV_NAME,
        description="The environment variable holding the integration's routing key.",
    )
    service_routing_key_env: dict[
        Annotated[str, Field(pattern=SERVICE_NAME)], Annotated[str, Field(pattern=ENV_NAME)]
    ] = Field(
        default_factory=dict,
        description="A service's own routing key (an environment variable name per service).",
    )
    page_on_declare: list[Severity] = Field(
        default_factory=lambda: [Severity.SEV0, Severity.SEV1],
        description="Severities whose declaration pages.",
    )


class PagingSettings(Section):
    pagerduty: PagerDutySettings | None = None
