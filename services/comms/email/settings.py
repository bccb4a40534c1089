"""`email:` in hotfix.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from services.comms.config import Section
from services.incidents.model import Severity

AUDIENCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# ASCII only: the mail is sent without SMTPUTF8, which not every relay offers.
ADDRESS = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
DOMAIN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}$"
AudienceName = Annotated[str, Field(pattern=AUDIENCE_NAME)]
Messages = Literal["customer", "executive", "internal"]


class EmailAudience(Section):
    to: list[Annotated[str, Field(pattern=ADDRESS)]] = Field(min_length=1, max_length=1000)
    # Customer by default: an audience reads internal detail (notes, root cause, names) only
    # when the configuration says so, never because a key was left out.
    messages: Messages = Field(
        default="customer",
        description="Which templates this audience reads: customer (the default; only --public"
        " words), executive, or internal.",
    )


class EmailOccasions(Section):
    declared: list[AudienceName] = Field(
        default_factory=list, description="Who gets the initial notification."
    )
    broadcast: list[AudienceName] = Field(
        default_factory=list, description="Who gets `--broadcast` status updates."
    )
    resolved: list[AudienceName] = Field(
        default_factory=list, description="Who gets the resolution notice."
    )


class EmailSettings(Section):
    smtp_host: str = Field(min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(
        default=True, description="Upgrade the connection with STARTTLS before logging in."
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the relay's certificate (default: the system's).",
    )
    from_address: str = Field(alias="from", pattern=ADDRESS)
    username_env: str = Field(default="SMTP_USERNAME", pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_env: str = Field(default="SMTP_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$")
    message_id_domain: str | None = Field(
        default=None,
        pattern=DOMAIN,
        description="The right-hand side of the Message-IDs (default: the domain of `from`).",
    )
    audiences: dict[AudienceName, EmailAudience] = Field(default_factory=dict)
    severities: dict[Severity, EmailOccasions] = Field(
        default_factory=dict, description="Per severity: which audiences get which mail."
    )
    timeout_seconds: float = Field(default=20, gt=0, le=300)

    @model_validator(mode="after")
    def _severities_name_audiences(self) -> Self:
        # Located at the very list item, so the config error names its line.
        errors: list[InitErrorDetails] = []
        defined = ", ".join(sorted(self.audiences)) or "none"
        for severity, occasions in self.severities.items():
            for occasion in ("declared", "broadcast", "resolved"):
                for index, name in enumerate(getattr(occasions, occasion)):
                    if name in self.audiences:
                        continue
                    errors.append(
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "unknown_audience",
                                "no audience {name} under email.audiences (defined: {defined})",
                                {"name": repr(name), "defined": defined},
                            ),
                            loc=("severities", severity.value, occasion, index),
                            input=name,
                        )
                    )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2]
