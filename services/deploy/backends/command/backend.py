"""The command backend: the team's own deploy script (`helm upgrade …`, `./deploy.sh {version}`).

A script keeps no history the bot can read: what "previous" means is resolved from the
bot's own records before the request is made (services.deploy.history). With a `status`
command, the bot reads what runs before and after a rollback, skips one that has nothing
to do, and never calls a rollback done that left the target as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.deploy.backend import AlreadyThereError, Progress, Running, ShouldAbort
from services.deploy.backends.command.settings import CommandTarget
from services.deploy.process import OUTPUT_KEPT, fill, run
from services.errors import DeployError


class CommandBackend:
    def __init__(
        self,
        target: CommandTarget,
        *,
        service: str,
        environment: str,
        child_env: Mapping[str, str],
        kind: str = "deploy",
    ) -> None:
        self.target = target
        self.values = {"service": service, "environment": environment}
        self.label = f"{service}/{environment}"
        # The scripts' whole environment (process.environment_for): never the bot's.
        self.child_env = child_env
        # "deploy": rollback(to_version=None) undoes the deployment (back to what ran before
        # it). "rollback": None is a "previous" nobody could resolve; the script decides.
        self.kind = kind

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
                output=result.output[-OUTPUT_KEPT:],
            )
        return {
            "command": result.argv,
            "output_tail": result.tail(),
            "output": result.output[-OUTPUT_KEPT:],
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
        if not result.ok:
            return Running(summary=f"status command {result.describe()}: {first}".rstrip(": "))
        return Running(summary=first or "status command printed nothing", version=first or None)

    def validate(self, version: str) -> list[str]:
        return []

    def consistency(self) -> list[str]:
        """A script target says what it runs only through its status command."""
        if self.target.status is None:
            return []
        running = self.current()
        if running.version is None:
            return [f"{self.label}: {running.summary}"]
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
        version = to_version or (str(before.get("version") or "") if self.kind == "deploy" else "")
        checked = self.target.status is not None
        was = self.current().version if checked else None
        if checked and version and was == version:
            raise AlreadyThereError(
                f"skipped rollback: {self.label} already runs {version}; nothing was changed."
            )
        progress(f"running {self.target.rollback[0]}")
        detail = self._run(self.target.rollback, version, "rollback")
        if not checked:
            # Nothing can tell what runs now: say which version was asked for, and that the
            # script's word is all there is.
            return {**detail, "version": version or None, "confirmed": False}
        now = self.current()
        if version and now.version != version:
            raise DeployError(
                f"The rollback command succeeded, but {self.label} runs"
                f" {now.version or now.summary}, not {version}: it was not rolled back.",
                hint="Check the rollback script and roll back by hand.",
            )
        if not version and now.version == was:
            raise DeployError(
                f"The rollback command succeeded, but {self.label} still runs {was}:"
                " nothing was rolled back.",
                hint="Check the rollback script, or roll back with --version=….",
            )
        return {
            **detail,
            "summary": f"{self.label} runs {now.version}",
            "version": now.version,
            "confirmed": True,
        }
