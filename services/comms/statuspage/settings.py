"""`statuspage:` in hotfix.yml."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import Field

from services.comms.config import SERVICE_NAME, Section
from services.incidents.model import Severity
from services.patterns import HttpUrlText

ComponentStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]


def _default_component_status() -> dict[Severity, ComponentStatus]:
    return {
        Severity.SEV0: "major_outage",
        Severity.SEV1: "major_outage",
        Severity.SEV2: "partial_outage",
        Severity.SEV3: "degraded_performance",
    }


class StatuspageSettings(Section):
    api_url: HttpUrlText = Field(
        default="https://api.statuspage.io/v1",
        description="Statuspage's API, or a compatible self-hosted page (and the tests).",
    )
    page_id: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$", description="The page's id.")
    api_key_env: str = Field(
        default="STATUSPAGE_API_KEY",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="The environment variable holding the API key (never in this file).",
    )
    components: dict[Annotated[str, Field(pattern=SERVICE_NAME)], str] = Field(
        default_factory=dict, description="The bot's services → the page's component ids."
    )
    component_status: dict[Severity, ComponentStatus] = Field(
        default_factory=_default_component_status,
        description="What an incident's severity makes its components show.",
    )
    open_automatically: list[Severity] = Field(
        default_factory=list,
        description="Severities whose declaration opens the public incident without --public.",
    )
    requests_per_second: float = Field(
        default=1.0, gt=0, le=50, description="Statuspage allows about 1 per second per key."
    )


def unknown_components(settings: StatuspageSettings, services: Iterable[str]) -> str | None:
    """A clear sentence when `components:` names services the config does not define.

    Only when `services:` is configured: a team that runs no deploys through the bot still
    names its incidents' services freely (`--service`), and its status page with them.
    """
    known = sorted(services)
    unknown = sorted(set(settings.components) - set(known))
    if not known or not unknown:
        return None
    return (
        f"statuspage.components names {', '.join(unknown)}, which is not under services:"
        f" (configured: {', '.join(known)}). Map the configured services to component ids."
    )
