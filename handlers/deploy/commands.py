"""/hotfix deploy and /hotfix rollback: requests through the approval gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from handlers.core.buttons import ButtonPress
from handlers.core.commands import ChatGroup, CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.buttons import approve as approve_button
from handlers.deploy.buttons import cancel as cancel_button
from handlers.deploy.buttons import reject as reject_button
from handlers.deploy.buttons import rollback as rollback_button
from handlers.deploy.runner import submit
from handlers.incident.lookup import incident_here
from services.access import require_deployer
from services.deploy import deployments, engine, inference
from services.deploy.approvals import DeployRequest
from services.deploy.model import IN_FLIGHT, Kind, State
from services.incidents.announcement import unannounced
from services.incidents.model import Incident

T = TypeVar("T")


COMMANDS = CommandList()


# `deploy --target=…` requests a deployment (the group's default command); the group's
# subcommands (`deploy list`, `deploy status DEP-n`, …) look at and steer deployments.
DEPLOY = ChatGroup("deploy", help="Request, follow and steer deployments.")


# A deployment that a rollback of its target should stop (or undo) rather than queue behind.
IN_PROGRESS = (set(IN_FLIGHT) - {State.ROLLING_BACK}) | {State.INTERRUPTED}

TARGET = click.option(
    "--target", "environment", required=True, help="Environment, e.g. production."
)
SERVICE = click.option("--service", required=True, help="Service, e.g. payments.")


def inferred_or_usage(call: Callable[[], T]) -> T:
    """A flag nothing could infer is a usage error: the answer names the flag to add."""
    try:
        return call()
    except inference.MissingChoiceError as exc:
        raise click.UsageError(f"{exc.message} {exc.hint or ''}".strip()) from exc


def service_and_version(
    env: CommandEnv,
    *,
    environment: str,
    service: str | None,
    version: str | None,
    again: str | None = None,
) -> inference.Choice:
    """--service and --version as typed, or as the war room's hotfix implies them (deploy,
    validate); `again` is the command the answer suggests when the version is missing."""
    incident = incident_here(env)
    return inferred_or_usage(
        lambda: inference.for_deploy(
            env.deps.settings,
            env.deps.store,
            incident=incident,
            environment=environment,
            service=service,
            version=version,
            **({"again": again} if again else {}),
        )
    )


def _request(env: CommandEnv, **choices: Any) -> DeployRequest:
    """A request with who asked, where, in which incident, and Slack's idempotency key."""
    return DeployRequest(
        **choices,
        requested_by=env.invocation.actor,
        channel_id=env.invocation.channel_id,
        incident=incident_here(env),
        request_key=env.invocation.trigger_id,
        replayed=env.invocation.replayed,
    )


@chat_command(
    DEPLOY,
    "deploy",
    example="/hotfix deploy --target=production --verify --notify-stakeholders",
    short_help="Request a deployment (approval card with Approve / Reject).",
)
@TARGET
@click.option(
    "--service",
    help="Service, e.g. payments (default: the incident's hotfix's, else the only one).",
)
@click.option(
    "--version",
    help="The version (tag) to deploy (default: the tag the incident's hotfix finish made).",
)
@click.option(
    "--strategy",
    type=click.Choice(["rolling", "blue-green", "canary"]),
    help="Default: the target's.",
)
@click.option(
    "--verify/--no-verify", default=True, show_default=True, help="Health checks after the rollout."
)
@click.option(
    "--notify-stakeholders", is_flag=True, help="Also post the outcome in the announcement thread."
)
def deploy(
    env: CommandEnv,
    environment: str,
    service: str | None,
    version: str | None,
    strategy: str | None,
    verify: bool,
    notify_stakeholders: bool,
) -> Reply:
    """Request a deployment: the card shows what runs now and what will, and asks for approval.

    In an incident's war room, --service and --version default to its hotfix's service and
    the tag its finish made; the card says what was inferred."""
    choice = service_and_version(env, environment=environment, service=service, version=version)
    return submit(
        env,
        _request(
            env,
            kind=Kind.DEPLOY,
            service=choice.service,
            environment=environment,
            version=choice.version,
            strategy=strategy,
            verify=verify,
            notify_stakeholders=notify_stakeholders,
            immediate=False,
            inferred=choice.inferred,
            typed_version=version is not None,
        ),
        problems=_stakeholders_unreachable(env, incident_here(env)) if notify_stakeholders else [],
    )


def _stakeholders_unreachable(env: CommandEnv, incident: Incident | None) -> list[str]:
    """--notify-stakeholders posts the outcome in the incident's announcement thread."""
    what = "--notify-stakeholders"
    if incident is None:
        return [f"{what} goes nowhere outside an incident: the outcome is on the card only."]
    return unannounced(incident, env.deps.settings.incidents, what=what, fate="will go nowhere")


@chat_command(
    COMMANDS,
    "rollback",
    example="/hotfix rollback --version=previous --preserve-data --immediate",
    short_help="Roll back to the previous (or a given) version.",
)
@click.option(
    "--target",
    "environment",
    help="Environment, e.g. production (default: the incident's last deployment's).",
)
@click.option(
    "--service", help="Service, e.g. payments (default: the incident's last deployment's)."
)
@click.option(
    "--version",
    default="previous",
    show_default=True,
    help="previous, or a version such as v2.1.0.",
)
@click.option(
    "--preserve-data",
    is_flag=True,
    help="Roll back code only: the service's migrations.down (and verify) do not run;"
    " data and schema stay as they are.",
)
@click.option(
    "--immediate", is_flag=True, help="Skip approval (only where the environment allows it)."
)
def rollback(
    env: CommandEnv,
    environment: str | None,
    service: str | None,
    version: str,
    preserve_data: bool,
    immediate: bool,
) -> Reply:
    """Roll back: Kubernetes `rollout undo` semantics, blue-green switches back, scripts run rollback.

    In an incident's war room, --target and --service default to its last deployment's.
    While a deployment (or a canary) is running on the target, this is its Rollback button:
    it stops there and rolls back at once (for a canary: all traffic to stable, no analysis)."""
    incident = incident_here(env)
    service, environment, inferred = inferred_or_usage(
        lambda: inference.for_rollback(
            env.deps.store, incident=incident, environment=environment, service=service
        )
    )
    running = deployments.latest_for_target(
        env.deps.store, service, environment, states=IN_PROGRESS
    )
    if running is not None and running.kind is Kind.DEPLOY:
        if preserve_data:
            # The flag rides along to the deployment's own rollback (checked like a click).
            require_deployer(
                env.invocation.actor,
                access=env.deps.settings.access,
                chat=env.deps.chat,
                what="roll back",
            )
            engine.keep_data(
                env.deps.store, clock=env.deps.clock, deployment=running, actor=env.invocation.actor
            )
        return rollback_button(env, ButtonPress(value=running.id))
    return submit(
        env,
        _request(
            env,
            kind=Kind.ROLLBACK,
            service=service,
            environment=environment,
            version=version,
            strategy=None,
            verify=True,
            notify_stakeholders=False,
            immediate=immediate,
            inferred=inferred,
            preserve_data=preserve_data,
            typed_version=version != "previous",
        ),
    )


@chat_command(
    COMMANDS,
    "approve",
    example="/hotfix approve DEP-12",
    short_help="Approve a deployment (the same as its Approve button).",
)
@click.argument("deployment_id", metavar="DEP-N")
def approve(env: CommandEnv, deployment_id: str) -> Reply:
    """Approve a requested deployment: for the keyboard, and for the console when Slack is down."""
    return approve_button(env, ButtonPress(value=deployment_id.upper()))


@chat_command(
    COMMANDS,
    "reject",
    example="/hotfix reject DEP-12",
    short_help="Reject a deployment (the same as its Reject button).",
)
@click.argument("deployment_id", metavar="DEP-N")
def reject(env: CommandEnv, deployment_id: str) -> Reply:
    """Reject a requested deployment."""
    return reject_button(env, ButtonPress(value=deployment_id.upper()))


@chat_command(
    COMMANDS,
    "cancel",
    example="/hotfix cancel DEP-12",
    short_help="Withdraw your own deployment or rollback request while it waits for approval.",
)
@click.argument("deployment_id", metavar="DEP-N")
def cancel(env: CommandEnv, deployment_id: str) -> Reply:
    """Withdraw a request you made that nobody approved yet (the same as its Cancel button)."""
    return cancel_button(env, ButtonPress(value=deployment_id.upper()))
