"""The command backend: the team's own deploy script (`helm upgrade …`, `./deploy.sh {version}`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.deploy.backend import DeployError, Progress, Running, ShouldAbort
from services.deploy.process import fill, run
from services.deploy.settings import CommandTarget


class CommandBackend:
    def __init__(
        self,
        target: CommandTarget,
        *,
        service: str,
        environment: str,
        child_env: Mapping[str, str],
    ) -> None:
        self.target = target
        self.values = {"service": service, "environment": environment}
        # The scripts' whole environment (process.environment_for): never the bot's.
        self.child_env = child_env

    def _run(self, argv: list[str], version: str, what: str) -> dict[str, Any]:
        result = run(
            fill(argv, {**self.values, "version": version}),
            timeout=self.target.timeout_seconds,
            cwd=self.target.workdir,
            env=self.child_env,
        )
        if not result.ok:
            raise DeployError(
                f"The {what} command {result.describe()}:\n{result.tail()}",
                hint="The full output is on the timeline.",
            )
        return {
            "command": result.argv,
            "output_tail": result.tail(),
            "output": result.output[-20000:],
        }

    def current(self) -> Running:
        if self.target.status is None:
            return Running(summary="unknown (no status command configured)")
        result = run(
            fill(self.target.status, {**self.values, "version": ""}),
            timeout=60,
            cwd=self.target.workdir,
            env=self.child_env,
        )
        first = result.output.strip().splitlines()[0] if result.output.strip() else ""
        return Running(
            summary=first or f"status command {result.describe()}", version=first or None
        )

    def validate(self, version: str) -> list[str]:
        return []

    def deploy(
        self, version: str, *, progress: Progress, should_abort: ShouldAbort
    ) -> dict[str, Any]:
        progress(f"running {self.target.deploy[0]}")
        detail = self._run(self.target.deploy, version, "deploy")
        if self.target.status is not None:
            detail["status"] = self._run(self.target.status, version, "status")["output_tail"]
        return detail

    def rollback(
        self,
        *,
        to_version: str | None,
        before: dict[str, Any],
        progress: Progress,
        should_abort: ShouldAbort,
    ) -> dict[str, Any]:
        if self.target.rollback is None:
            raise DeployError(
                "No rollback command is configured for this target.",
                hint="Deploy the previous version with /hotfix deploy, and add command.rollback to the config.",
                changed=False,
            )
        version = to_version or str(before.get("version") or "")
        progress(f"running {self.target.rollback[0]}")
        return self._run(self.target.rollback, version, "rollback")
