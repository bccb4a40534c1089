"""The command backend: the team's own deploy script (`helm upgrade …`, `./deploy.sh {version}`)."""

from __future__ import annotations

from typing import Any, ClassVar

from services.deploy.backend import Backend, BackendType, BuildOrder
from services.deploy.backends.command.settings import CommandTarget


class CommandBackendType(BackendType):
    name = "command"
    settings_model = CommandTarget
    strategies = ("rolling",)
    # A script keeps no history the bot can read: "previous" comes from the bot's records.
    keeps_history: ClassVar[bool] = False

    def problems(self, settings: Any, strategy: str) -> list[str]:
        if strategy != "rolling":
            return ["the command backend deploys with its own script: use strategy rolling"]
        return []

    def build(self, settings: Any, order: BuildOrder) -> Backend:
        from services.deploy.backends.command.backend import CommandBackend

        assert isinstance(settings, CommandTarget)
        return CommandBackend(
            settings,
            service=order.service,
            environment=order.environment,
            child_env=order.child_env,
            kind=order.kind,
        )

    def previous_needs_a_version(self, settings: Any) -> bool:
        assert isinstance(settings, CommandTarget)
        return any("{version}" in arg for arg in settings.rollback or [])


BACKEND = CommandBackendType()
