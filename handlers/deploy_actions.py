"""Buttons on deployment cards: Approve, Reject, Rollback, Resume. Checked on every click."""

from __future__ import annotations

from handlers.actions import Click, action
from handlers.context import CommandEnv
from handlers.deploy_runner import after_decision, deployment_reply, run_logged
from handlers.replies import Reply
from services.access import require_deployer
from services.deploy import engine, repository, requests
from services.deploy.model import IN_FLIGHT, State
from services.errors import ConflictError


@action("hotfix_deploy_approve")
def approve(env: CommandEnv, click: Click) -> Reply:
    deployment = repository.get(env.deps.store, click.value)
    decision = requests.decide(
        env.deps.deploy, deployment, actor=env.invocation.actor, approve=True
    )
    after_decision(env, decision)
    if not decision.recorded:
        return deployment_reply(env, decision.deployment, "Your approval was already recorded.", [])
    return deployment_reply(env, decision.deployment, f"Approved {deployment.id}.", [])


@action("hotfix_deploy_reject")
def reject(env: CommandEnv, click: Click) -> Reply:
    deployment = repository.get(env.deps.store, click.value)
    decision = requests.decide(
        env.deps.deploy, deployment, actor=env.invocation.actor, approve=False
    )
    after_decision(env, decision)
    return deployment_reply(env, decision.deployment, f"Rejected {deployment.id}.", [])


@action("hotfix_deploy_rollback")
def rollback(env: CommandEnv, click: Click) -> Reply:
    """Roll back this deployment: abort it if running, undo it if finished or interrupted."""
    deps = env.deps.deploy
    deployment = repository.get(env.deps.store, click.value)
    require_deployer(
        env.invocation.actor, access=env.deps.settings.access, chat=env.deps.chat, what="roll back"
    )
    if deployment.state in IN_FLIGHT and deployment.state is not State.ROLLING_BACK:
        repository.request_abort(env.deps.store, deployment.id)
        return deployment_reply(
            env, deployment, f"Rollback requested: {deployment.id} stops and rolls back.", []
        )
    if deployment.state not in (State.SUCCEEDED, State.INTERRUPTED, State.FAILED):
        raise ConflictError(
            f"{deployment.id} is {deployment.state.label.lower()}; there is nothing to roll back."
        )
    deployment_id = deployment.id
    actor = env.invocation.actor
    seen = deployment.state  # what the click acted on; a replay finds it changed
    env.deps.worker.submit(
        lambda: run_logged(
            deployment,
            lambda: engine.rollback_now(
                deps,
                repository.get(deps.store, deployment_id),
                actor=actor,
                reason=f"requested by {actor}",
                seen=seen,
            ),
        ),
        describe=f"rollback {deployment_id}",
        long=True,
    )
    return deployment_reply(env, deployment, f"Rolling back {deployment.id}.", [])


@action("hotfix_deploy_resume")
def resume(env: CommandEnv, click: Click) -> Reply:
    deps = env.deps.deploy
    deployment = repository.get(env.deps.store, click.value)
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
            lambda: engine.resume(deps, repository.get(deps.store, deployment.id), actor=actor),
        ),
        describe=f"resume {deployment.id}",
        long=True,
    )
    return deployment_reply(env, deployment, f"Resuming {deployment.id}.", [])
