"""The command backend's section of an environment: `command:`."""

from __future__ import annotations

from pydantic import Field

from services.deploy.settings import Argv, Section


class CommandTarget(Section):
    deploy: Argv = Field(
        min_length=1, description="argv; {version}, {service}, {environment} filled in"
    )
    rollback: Argv | None = None
    status: Argv | None = None
    timeout_seconds: float = Field(default=900, gt=0)
    workdir: str | None = None
