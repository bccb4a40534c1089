"""The run's steps that act on the target: validate, backup, deploy, roll back, and the
configured commands around them (smoke tests, after_deploy / after_rollback hooks).

Each returns what its record keeps (`Done`) or raises; recording the step before and after
it, and deciding what follows, is the run's (services.deploy.engine.run).
"""

from __future__ import annotations

from dataclasses import dataclass

from services import timeline
from services.deploy import deployments
from services.deploy.backend import Backend, Progress, ShouldAbort
from services.deploy.checks import run_checks
from services.deploy.engine.deps import BOT, DeployDeps
from services.deploy.model import Deployment
from services.deploy.process import OUTPUT_KEPT, ProcessResult, environment_for, fill, run
from services.deploy.settings import Check, EnvironmentSettings
from services.deploy.versions import rollback_aim
from services.errors import DeployError


@dataclass(frozen=True)
class Done:
    """A step that ended well: its outcome line (and the last lines below it) for the card,
    and its whole output for the timeline row (None: the lines below the outcome are it)."""

    detail: str
    output: str | None = None


# A step's record keeps its first 4000 characters: one 10 KB line must not push the
# error (the last lines) out of it. The whole output goes to the timeline row.
LINE_KEPT = 300


def short_lines(text: str) -> str:
    return "\n".join(
        line if len(line) <= LINE_KEPT else line[:LINE_KEPT] + "…" for line in text.splitlines()
    )


def values(deployment: Deployment) -> dict[str, str]:
    """What a configured command's {placeholders} stand for."""
    return {
        "version": deployment.version,
        "service": deployment.service,
        "environment": deployment.environment,
        "deployment_id": deployment.id,
    }


def validate(backend: Backend, env: EnvironmentSettings, deployment: Deployment) -> Done:
    """The built-in checks and the configured ones; the result names each of them.

    A failure's message is one line (what failed) followed by the failed checks'
    output: the card shows the line and the output's last lines below it.
    """
    problems = list(backend.validate(deployment.version))
    checks = run_checks(env.checks, values=values(deployment), env=environment_for(env))
    problems += checks.failures
    if problems:
        output = checks.output
        raise DeployError(
            "Pre-deployment checks failed: "
            + "; ".join(problems)
            + (f"\n{output}" if output else ""),
            changed=False,
            output=checks.full_output,
        )
    return Done(checks.summary if env.checks else "target ready")


def backup(deps: DeployDeps, env: EnvironmentSettings, deployment: Deployment) -> Done:
    assert env.backup is not None
    result = run(fill(env.backup, values(deployment)), timeout=3600, env=environment_for(env))
    timeline.append(
        deps.store,
        clock=deps.clock,
        incident_id=deployment.incident_id,
        actor=BOT,
        kind="deploy_backup",
        text=f"{deployment.id}: backup {result.describe()}",
        data={
            "deployment_id": deployment.id,
            "command": result.argv,
            "output_tail": result.tail(),
        },
    )
    # Where the backup went is worth reading on the card: its last lines follow.
    return command_step(result, failed_as="The backup", done_as="backup", changed=False)


def command_step(result: ProcessResult, *, failed_as: str, done_as: str, changed: bool) -> Done:
    """One configured command as a step (the backup, a migration): its outcome line and last
    lines for the card, or a DeployError with its last lines when it failed; its whole
    output (the end, if very long) for the timeline either way."""
    output = result.output[-OUTPUT_KEPT:]
    if not result.ok:
        raise DeployError(
            f"{failed_as} {result.describe()}:\n{short_lines(result.tail(8))}",
            changed=changed,
            output=output,
        )
    return Done(
        f"{done_as} {result.describe()}\n{short_lines(result.tail(3))}".rstrip(), output=output
    )


def deploy(
    deps: DeployDeps,
    backend: Backend,
    deployment: Deployment,
    *,
    progress: Progress,
    should_abort: ShouldAbort,
) -> Done:
    detail = backend.deploy(deployment.version, progress=progress, should_abort=should_abort)
    deployments.merge_detail(deps.store, deployment.id, deployed=detail)
    return Done(str(detail.get("summary") or "rolled out"), output=str(detail.get("output") or ""))


def roll_back(
    deps: DeployDeps, backend: Backend, deployment: Deployment, *, progress: Progress
) -> Done:
    """Back to what the rollback aims at; the backend says which version that was."""
    to_version = rollback_aim(deployment)
    detail = backend.rollback(
        to_version=to_version,
        before=deployment.before,
        progress=progress,
        should_abort=lambda: False,  # a rollback is never interrupted by another rollback click
    )
    # What the backend says runs now: the version the card, timeline and postmortem name.
    to = detail.get("version") or to_version
    deployments.merge_detail(deps.store, deployment.id, rolled_back=detail, rolled_back_to=to)
    return Done(str(detail.get("summary") or (f"back on {to}" if to else "rolled back")))


def commands(
    env: EnvironmentSettings,
    deployment: Deployment,
    checks: list[Check],
    *,
    what: str,
    version: str | None = None,
) -> Done:
    """A list of configured commands (smoke tests, hooks) run in order; DeployError when one
    fails, its message naming each failed one and their last lines. `version`: what
    {version} stands for when it is not the deployment's (after a rollback)."""
    filled = {**values(deployment), **({"version": version} if version else {})}
    outcome = run_checks(checks, values=filled, env=environment_for(env))
    if outcome.failures:
        raise DeployError(
            f"{what} failed: " + "; ".join(outcome.failures) + f"\n{short_lines(outcome.output)}",
            output=outcome.full_output,
        )
    return Done(outcome.summary)
