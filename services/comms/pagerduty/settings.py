"""`paging: pagerduty:` in hotfix.yml."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from services.comms.config import SERVICE_NAME, Section
from services.incidents.model import Severity
from services.patterns import HttpUrlText

ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"

# PagerDuty's four alert severities (Events API v2 `payload.severity`).
PagerDutySeverity = Literal["critical", "error", "warning", "info"]

# SEV0 and SEV1 wake people at night (critical); SEV2 is an error the on-call should see
# now; SEV3 a warning (high-urgency or not is the PagerDuty service's own rule).
DEFAULT_SEVERITIES: dict[Severity, PagerDutySeverity] = {
    Severity.SEV0: "critical",
    Severity.SEV1: "critical",
    Severity.SEV2: "error",
    Severity.SEV3: "warning",
}


class PagerDutySettings(Section):
    events_url: HttpUrlText = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty's Events API v2 endpoint (EU accounts:"
        " https://events.eu.pagerduty.com/v2/enqueue).",
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
    people_routing_key_env: dict[
        Annotated[str, Field(pattern=SLACK_USER_ID)], Annotated[str, Field(pattern=ENV_NAME)]
    ] = Field(
        default_factory=dict,
        description="`/hotfix page @user`: a Slack user id's own routing key (the integration"
        " key of a PagerDuty service whose escalation policy pages that person).",
    )
    page_on_declare: list[Severity] = Field(
        default_factory=lambda: [Severity.SEV0, Severity.SEV1],
        description="Severities whose declaration pages.",
    )
    severities: dict[Severity, PagerDutySeverity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES),
        description="The PagerDuty severity sent for each incident severity.",
    )
    source: str = Field(
        default="hotfix-bot",
        min_length=1,
        max_length=255,
        description="The alerts' `payload.source` (the system reporting the problem).",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long one Events API call may take."
    )

    def severity_of(self, severity: Severity) -> PagerDutySeverity:
        return self.severities.get(severity, DEFAULT_SEVERITIES[severity])


class PagingSettings(Section):
    pagerduty: PagerDutySettings | None = None
