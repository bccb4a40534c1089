"""Buttons on deployment cards: Approve, Reject, Rollback, Resume, and the requester's Cancel.
Checked on every click."""

from __future__ import annotations

from handlers.core.buttons import Button, ButtonPress
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.deploy.runner import after_decision, deployment_reply, run_logged, submit
from handlers.incident.lookup import incident_here
from services.access import require_deployer
from services.deploy import approvals, deployments, engine, withdraw
from services.deploy.approvals import DeployRequest
from services.deploy.model import IN_FLIGHT, Deployment, Kind, State
from services.errors import ConflictError
from services.incidents import records as incidents


def approve(env: CommandEnv, press: ButtonPress) -> Reply:
    deployment = deployments.get(env.deps.store, press.value)
    decision = approvals.decide(
        env.deps.deploy, deployment, actor=env.invocation.actor, approve=True
    )
    after_decision(env, decision)
    if not decision.recorded:
        return deployment_reply(env, decision.deployment, "Your approval was already recorded.", [])
    return deployment_reply(env, decision.deployment, f"Approved {deployment.id}.", [])


def reject(env: CommandEnv, press: ButtonPress) -> Reply:
    deployment = deployments.get(env.deps.store, press.value)
    decision = approvals.decide(
        env.deps.deploy, deployment, actor=env.invocation.actor, approve=False
    )
    after_decision(env, decision)
    return deployment_reply(env, decision.deployment, f"Rejected {deployment.id}.", [])


def rollback(env: CommandEnv, press: ButtonPress) -> Reply:
    """Roll back this deployment: abort it if running, undo it if finished or interrupted."""
    deps = env.deps.deploy
    deployment = deployments.get(env.deps.store, press.value)
    require_deployer(
        env.invocation.actor, access=env.deps.settings.access, chat=env.deps.chat, what="roll back"
    )
    if deployment.state in IN_FLIGHT and deployment.state is not State.ROLLING_BACK:
        withdraw.stop(
            env.deps.store,
            clock=env.deps.clock,
            deployment=deployment,
            actor=env.invocation.actor,
        )
        return deployment_reply(
            env, deployment, f"Rollback requested: {deployment.id} stops and rolls back.", []
        )
    engine.refuse_after_manual_intervention(deployment)
    if deployment.state is State.REQUESTED:
        raise ConflictError(
            f"{deployment.id} is waiting for approval: nothing ran yet, so there is nothing to"
            " roll back.",
            hint=f"Its requester can withdraw it: /hotfix cancel {deployment.id}.",
        )
    if deployment.state not in (State.SUCCEEDED, State.INTERRUPTED, State.FAILED):
        raise ConflictError(
            f"{deployment.id} is {deployment.state.label.lower()}; there is nothing to roll back."
        )
    if deployment.state is not State.INTERRUPTED and _needs_approval(env, deployment):
        return _request_rollback(env, deployment)
    deployment_id = deployment.id
    actor = env.invocation.actor
    seen = deployment.state  # what the click acted on; a replay finds it changed
    env.deps.worker.submit(
        lambda: run_logged(
            deployment,
            lambda: engine.rollback_now(
                deps,
                deployments.get(deps.store, deployment_id),
                actor=actor,
                reason=f"requested by {actor}",
                seen=seen,
            ),
        ),
        describe=f"rollback {deployment_id}",
        long=True,
    )
    return deployment_reply(env, deployment, f"Rolling back {deployment.id}.", [])


def _needs_approval(env: CommandEnv, deployment: Deployment) -> bool:
    """rollback_approval: approvals sends a finished deployment's Rollback through the gate,
    except during an open incident of the severities that allow --immediate."""
    settings = approvals.target_settings(
        env.deps.settings, deployment.service, deployment.environment
    )
    if settings.rollback_approval != "approvals":
        return False
    for incident in (
        incidents.by_id(env.deps.store, deployment.incident_id) if deployment.incident_id else None,
        incident_here(env),
    ):
        if (
            incident is not None
            and incident.is_open
            and incident.severity.value in settings.immediate_rollback_severities
        ):
            return False
    return True


def _request_rollback(env: CommandEnv, deployment: Deployment) -> Reply:
    """The click files a rollback request to what ran before `deployment`."""
    return submit(
        env,
        DeployRequest(
            kind=Kind.ROLLBACK,
            service=deployment.service,
            environment=deployment.environment,
            version=str(deployment.before.get("version") or "previous"),
            strategy=deployment.strategy,
            verify=True,
            notify_stakeholders=False,
            immediate=False,
            requested_by=env.invocation.actor,
            channel_id=deployment.channel_id or env.invocation.channel_id,
            incident=incident_here(env),
            request_key=env.invocation.trigger_id,
            replayed=env.invocation.replayed,
        ),
        waiting=f"Rolling back {deployment.id} needs approval in {deployment.environment}:"
        " {id} requested ({approvals} approval(s)).",
    )


def cancel(env: CommandEnv, press: ButtonPress) -> Reply:
    """The requester withdraws a request that waits for approval."""
    deps = env.deps.deploy
    deployment = deployments.get(env.deps.store, press.value)
    cancelled = withdraw.withdraw(
        deps.store,
        clock=deps.clock,
        chat=deps.chat,
        deployment=deployment,
        actor=env.invocation.actor,
    )
    return deployment_reply(env, cancelled, f"Cancelled {deployment.id}.", [])


def resume(env: CommandEnv, press: ButtonPress) -> Reply:
    deps = env.deps.deploy
    deployment = deployments.get(env.deps.store, press.value)
    require_deployer(
        env.invocation.actor,
        access=env.deps.settings.access,
        chat=env.deps.chat,
        what="resume deployments",
    )
    if deployment.state is not State.INTERRUPTED:
        raise ConflictError(
            f"{deployment.id} is {deployment.state.label.lower()}, not interrupted."
        )
    actor = env.invocation.actor
    env.deps.worker.submit(
        lambda: run_logged(
            deployment,
            lambda: engine.resume(deps, deployments.get(deps.store, deployment.id), actor=actor),
        ),
        describe=f"resume {deployment.id}",
        long=True,
    )
    return deployment_reply(env, deployment, f"Resuming {deployment.id}.", [])


BUTTONS = (
    Button("hotfix_deploy_approve", approve),
    Button("hotfix_deploy_reject", reject),
    Button("hotfix_deploy_rollback", rollback),
    Button("hotfix_deploy_cancel", cancel),
    Button("hotfix_deploy_resume", resume),
)
