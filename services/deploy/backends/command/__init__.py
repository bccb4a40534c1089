"""The command backend: the team's own deploy script (`helm upgrade …`, `./deploy.sh {version}`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from services.deploy.backend import Backend, BackendType, BuildOrder, ConfigFinding
from services.deploy.backends.command.settings import CommandTarget
from services.deploy.process import start_problem


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

    def findings(
        self,
        settings: Any,
        *,
        values: dict[str, str],
        cwd: Path,
        child_env: Mapping[str, str],
    ) -> list[ConfigFinding]:
        """The scripts, each looked up from the workdir it will start in."""
        assert isinstance(settings, CommandTarget)
        workdir = cwd / settings.workdir if settings.workdir else cwd
        if not _is_dir(workdir):
            # No command can start there; saying so once beats one line per program.
            return [ConfigFinding(("workdir",), f"{workdir} is not an existing directory")]
        found = []
        for key in ("deploy", "rollback", "status"):
            argv = getattr(settings, key)
            problem = (
                start_problem(argv, values=values, env=child_env, cwd=workdir) if argv else None
            )
            if problem:
                found.append(ConfigFinding((key,), problem))
        return found


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long: no command could start there either
        return False


BACKEND = CommandBackendType()
