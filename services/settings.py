"""The bot's configuration, as typed models.

The YAML file is parsed and located (file and line) by `bot.config`; these
models say what is valid. Unknown keys are errors: a typo in a config file
read at 3 a.m. must stop the bot loudly, not be ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(Section):
    path: Path = Field(
        default=Path("data/hotfix.db"),
        description="SQLite file; relative paths are relative to the config file.",
    )


class SlackSettings(Section):
    mode: Literal["socket", "http"] = Field(
        default="socket", description="How Slack reaches the bot: Socket Mode or HTTP requests."
    )
    http_host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every address
    http_port: int = Field(default=3000, ge=1, le=65535)
    api_url: str | None = Field(
        default=None,
        description="Slack Web API base URL (GovSlack, Enterprise); SLACK_API_URL overrides it.",
    )
    command: str = Field(default="/hotfix", pattern=r"^/[a-z0-9_-]{1,31}$")


class Settings(Section):
    store: StoreSettings = StoreSettings()
    slack: SlackSettings = SlackSettings()
    timezone: str = Field(default="UTC", description="The team's time zone for timelines.")
    templates_dir: Path | None = Field(
        default=None, description="A directory whose templates override the shipped ones."
    )
    workers: int = Field(default=4, ge=1, le=64, description="Threads for slow work.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
