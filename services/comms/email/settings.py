"""`email:` in hotfix.yml."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from services.comms.config import Section
from services.incidents.model import Severity

AUDIENCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ADDRESS = r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$"
AudienceName = Annotated[str, Field(pattern=AUDIENCE_NAME)]


class EmailAudience(Section):
    to: list[Annotated[str, Field(pattern=ADDRESS)]] = Field(min_length=1)
    messages: Literal["customer", "executive", "internal"] = Field(
        default="internal",
        description="Which templates this audience reads: customer ones carry only --public words.",
    )


class EmailOccasions(Section):
    declared: list[AudienceName] = Field(default_factory=list)
    broadcast: list[AudienceName] = Field(default_factory=list)
    resolved: list[AudienceName] = Field(default_factory=list)


class EmailSettings(Section):
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    from_address: str = Field(alias="from", pattern=ADDRESS)
    username_env: str = Field(default="SMTP_USERNAME", pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_env: str = Field(default="SMTP_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$")
    audiences: dict[AudienceName, EmailAudience] = Field(default_factory=dict)
    severities: dict[Severity, EmailOccasions] = Field(
        default_factory=dict, description="Per severity: which audiences get which mail."
    )
    timeout_seconds: float = Field(default=20, gt=0, le=300)
