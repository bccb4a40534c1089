"""What the integrations outside Slack share in their configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section: unknown keys are errors (a typo must stop the bot)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


SERVICE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"  # as the config's `services:` keys
