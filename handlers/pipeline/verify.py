"""/hotfix verify (see services.pipeline.verify): the runbook's
`/hotfix verify --endpoints=critical --duration=5m --auto-rollback`.

The command records the run and posts its card, then the sampling runs on the bot's worker
(a long job); with --auto-rollback a failure rolls back the target's last deployment
through its Rollback button's path (rollback_approval and the incident's severity decide
whether that rolls back at once or files a rollback request for approval).
"""

from __future__ import annotations

from typing import Any

import click

from handlers.core.buttons import ButtonPress
from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.buttons import rollback as rollback_button
from handlers.deploy.runner import home_channel
from handlers.incident.lookup import incident_here
from services.deploy import deployments, inference
from services.deploy.model import IN_FLIGHT, Kind, State
from services.errors import UserFacingError
from services.logcontext import bound
from services.pipeline import verify as verification
from services.pipeline.records import PipelineRun
from services.pipeline.verify_card import card_data, seconds_text

COMMANDS = CommandList()

# A deployment the Rollback button can undo (or stop): what the target's last deployment is.
UNDOABLE = set(IN_FLIGHT) | {State.SUCCEEDED, State.FAILED, State.INTERRUPTED}
# Any deployment or rollback that changed (or is changing) the target.
RAN = UNDOABLE | {State.ROLLED_BACK, State.ROLLBACK_SKIPPED}


class Duration(click.ParamType[float, Any]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return verification.parse_duration(str(value))
        except verification.DurationError as exc:
            self.fail(exc.message, param, ctx)


@chat_command(
    COMMANDS,
    "verify",
    example="/hotfix verify --endpoints=critical --duration=5m --auto-rollback",
    short_help="Check what runs now for a while: endpoint health and metrics.",
)
@click.option(
    "--endpoints",
    "group",
    help="The endpoint group, e.g. critical (default: the environment's only group).",
)
@click.option(
    "--duration",
    type=Duration(),
    default="5m",
    show_default=True,
    help="How long: 90s, 5m, 1h or seconds (10 s to 1 h).",
)
@click.option(
    "--auto-rollback",
    is_flag=True,
    help="On failure, roll back the target's last deployment (its Rollback button's path).",
)
@click.option(
    "--target",
    "environment",
    help="Environment (default: the incident's last deployment's, else the only one).",
)
@click.option(
    "--service",
    help="Service (default: the incident's hotfix's, else the only one).",
)
def verify(
    env: CommandEnv,
    group: str | None,
    duration: float,
    auto_rollback: bool,
    environment: str | None,
    service: str | None,
) -> Reply:
    """Verify what runs now: every interval for --duration, each endpoint of the group is
    requested and the environment's metric rules (error rate, p95 latency, PromQL) are
    evaluated; the card shows each one against its threshold, then the verdict."""
    incident = incident_here(env)
    try:
        service, environment, inferred = inference.for_verify(
            env.deps.settings,
            env.deps.store,
            incident=incident,
            environment=environment,
            service=service,
        )
    except inference.MissingChoiceError as exc:
        raise click.UsageError(f"{exc.message} {exc.hint or ''}".strip()) from exc
    channel = incident.channel_id if incident and incident.channel_id else None
    deps = env.deps.deploy
    run, created, problem = verification.start(
        deps,
        verification.Request(
            service=service,
            environment=environment,
            group=group,
            seconds=duration,
            auto_rollback=auto_rollback,
            requested_by=env.invocation.actor,
            incident_id=incident.id if incident else None,
            channel_id=channel or home_channel(env, env.invocation.channel_id),
            request_key=env.invocation.trigger_id,
            inferred=inferred,
        ),
    )
    if not created:
        return _reply(env, run, f"{run.id} was already started by this request.")
    env.deps.worker.submit(lambda: _run(env, run), describe=f"verify {run.id}", long=True)
    samples, lasting = run.detail["expected"], seconds_text(duration)
    notice = f"{run.id} started: {samples} samples over {lasting}."
    if problem:  # the verification runs anyway: its outcome is on the record and the timeline
        notice += f" {problem}: invite the bot here, or follow it on the timeline."
    return _reply(env, run, notice)


def _reply(env: CommandEnv, run: PipelineRun, notice: str) -> Reply:
    data = card_data(run, clock=env.deps.clock)
    return Reply("verify_card", {**data, "notice": notice})


def _run(env: CommandEnv, run: PipelineRun) -> None:
    with bound(verify_id=run.id, incident_id=run.incident_id):
        deps = env.deps.deploy
        finished = verification.run(deps, run.id)
        if finished.detail.get("outcome") == "failed" and finished.detail.get("auto_rollback"):
            verification.note_rollback(deps, run.id, _roll_back(env, finished))


def _roll_back(env: CommandEnv, run: PipelineRun) -> dict[str, Any]:
    """The target's last deployment, rolled back as its Rollback button would - only when it
    is of the version verified (the run's version: what ran when the verification started)."""
    store = env.deps.store
    again = f"/hotfix rollback --target={run.environment} --service={run.service}"
    last = deployments.latest_for_target(store, run.service, run.environment, states=RAN)
    if last is None:
        return {
            "deployment_id": None,
            "text": f"hotfix-bot has no deployment of {run.target} to roll back: nothing was"
            " rolled back.",
        }
    if last.kind is not Kind.DEPLOY or last.state not in UNDOABLE:
        return {
            "deployment_id": None,
            "text": f"the last deployment, {last.id}, is {last.state.label.lower()}: nothing"
            f" was rolled back automatically. To roll back: `{again} --version=v…`",
        }
    if last.version != run.version:
        # Never roll back a deployment that was not what failed: e.g. one started while the
        # verification ran, or a target changed by hand under the bot's last deployment.
        verified = run.version or "a version the bot could not read"
        return {
            "deployment_id": None,
            "text": f"the last deployment, {last.id}, is of {last.version}, but the"
            f" verification checked {verified}: nothing was rolled back automatically. To roll"
            f" back: `{again} --version=v…`",
        }
    # Its own request key: the rollback request is made once, whatever retries the job.
    as_click = env.with_invocation(trigger_id=f"{run.id}:auto-rollback", replayed=False)
    try:
        reply = rollback_button(as_click, ButtonPress(value=last.id))
    except UserFacingError as exc:
        return {
            "deployment_id": None,
            "text": f"rolling back {last.id} was refused: {exc.message} To roll back: `{again}`",
        }
    started = reply.data.get("deployment") or {}
    deployment = deployments.get(store, str(started.get("id") or last.id))
    return {
        "deployment_id": deployment.id,
        "channel_id": deployment.channel_id,
        "text": f"{reply.data.get('text') or ''} ({last.id}: {last.service} {last.version} on"
        f" {last.environment}).",
    }
