"""Runs starting and stopping: a run started on the worker, parked when interrupted, found
again after a restart, resumed, or rolled back on a person's click.

A bot restarted mid-deployment finds it in flight, reconciles with what the target runs,
and reports it as interrupted with Resume / Rollback instead of repeating a step blindly.
"""

from __future__ import annotations

import logging
from typing import Any

from services.chat import Message
from services.deploy import card, deployments, withdraw
from services.deploy.backend import DeployContext
from services.deploy.engine.deps import BOT, DeployDeps, environment_of, tell
from services.deploy.engine.run import Run
from services.deploy.model import IN_FLIGHT, Deployment, Kind, State
from services.errors import ConflictError

log = logging.getLogger(__name__)


def start(deps: DeployDeps, deployment_id: str, *, resumed: bool = False) -> None:
    """Run an approved deployment to its end. Meant for the worker.

    `resumed`: after a restart. Whatever the run, a database migration recorded as done is
    skipped and one recorded failed or running is not run again (Run.migration)."""
    deployment = deployments.get(deps.store, deployment_id)
    held = deployments.acquire_lock(
        deps.store, clock=deps.clock, deployment=deployment, holder=deployment.requested_by
    )
    if held is not None:
        why = f"{deployment.target} is locked by {held['deployment_id']} ({held['held_by']})"
        failed = deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.FAILED,
            actor=BOT,
            text=why,
        )
        card.post_or_update(
            deps.store, deployment, clock=deps.clock, chat=deps.chat, channel=deployment.channel_id
        )
        if failed.channel_id is None:
            payload = card.card_data(deps.store, failed, clock=deps.clock)
            tell(
                deps,
                failed,
                Message(
                    "deploy_failed",
                    {**payload, "error": why + ".", "hint": None, "rolling_back": False},
                ),
            )
        return
    engine_run = Run(deps, deployment, resumed=resumed)
    try:
        if deployment.state is State.ROLLING_BACK:
            engine_run.rollback_and_verify(reason="resumed")
        elif deployment.kind is Kind.ROLLBACK:
            engine_run.run_rollback_request()
        else:
            engine_run.run_deploy()
    except ConflictError:
        log.info("%s was moved on by someone else", deployment_id)
    except Exception:
        log.exception("%s: the engine stopped unexpectedly", deployment_id)
        engine_run.refresh()
        if engine_run.deployment.state in IN_FLIGHT:
            interrupt(
                deps,
                engine_run.deployment,
                reason="the engine stopped unexpectedly (see the bot's log)",
            )


def interrupt(deps: DeployDeps, deployment: Deployment, *, reason: str) -> Deployment:
    """Park an in-flight deployment for a person to decide: Resume or Rollback."""
    current: dict[str, Any] = {}
    try:
        env = environment_of(deps.settings, deployment)
        current = (
            deps.backend_for(deployment, env, DeployContext(service=deployment.service))
            .current()
            .as_data()
        )
    except Exception as exc:  # reconciling is best effort; the card says what is known
        current = {"summary": f"could not read the target: {exc}"}
    deployments.merge_detail(
        deps.store, deployment.id, interrupted_in=deployment.state.value, running_now=current
    )
    moved = deployments.transition(
        deps.store,
        clock=deps.clock,
        deployment=deployment,
        to=State.INTERRUPTED,
        actor=BOT,
        text=f"interrupted while {deployment.state.label.lower()}: {reason}",
        data={"running_now": current},
    )
    card.post_or_update(
        deps.store, moved, clock=deps.clock, chat=deps.chat, channel=moved.channel_id
    )
    return moved


def recover_after_restart(deps: DeployDeps) -> list[str]:
    """On start: every deployment found in flight is reported as interrupted, never re-run blindly."""
    found = []
    for deployment in deployments.in_states(deps.store, set(IN_FLIGHT)):
        interrupt(deps, deployment, reason="the bot restarted")
        found.append(deployment.id)
    return found


def resume(deps: DeployDeps, deployment: Deployment, *, actor: str) -> None:
    """Continue an interrupted deployment from the step it was in, after reconciling."""
    interrupted_in = State(deployment.detail.get("interrupted_in", State.VALIDATING.value))
    target_state = interrupted_in
    running_now = deployment.detail.get("running_now") or {}
    if interrupted_in is State.DEPLOYING and running_now.get("version") == deployment.version:
        target_state = State.VERIFYING  # the rollout had landed: verify instead of deploying again
    if interrupted_in is State.APPROVED:
        target_state = State.VALIDATING
    deployments.transition(
        deps.store,
        clock=deps.clock,
        deployment=deployment,
        to=target_state,
        actor=actor,
        text=f"resumed ({target_state.label.lower()})",
        expect=State.INTERRUPTED,
    )
    start(deps, deployment.id, resumed=True)


def rollback_now(
    deps: DeployDeps, deployment: Deployment, *, actor: str, reason: str, seen: State
) -> None:
    """The Rollback button on a finished or interrupted deployment.

    `seen` is the state the person clicked on: a double click or a retry finds the
    deployment already rolling back and raises ConflictError instead of rolling back twice.
    """
    try:
        deployments.transition(
            deps.store,
            clock=deps.clock,
            deployment=deployment,
            to=State.ROLLING_BACK,
            actor=actor,
            text=f"rollback ({reason})",
            expect=seen,
        )
    except ConflictError:
        log.info("%s: rollback already under way (a repeated click)", deployment.id)
        return
    withdraw.supersede_pending(
        deps.store,
        clock=deps.clock,
        chat=deps.chat,
        target=deployment,
        actor=actor,
        by=f"rollback of {deployment.id}",
    )
    held = deployments.acquire_lock(
        deps.store, clock=deps.clock, deployment=deployment, holder=actor
    )
    if held is not None and held["deployment_id"] != deployment.id:
        raise ConflictError(
            f"{deployment.target} is locked by {held['deployment_id']} ({held['held_by']})."
        )
    # Rolling back continues the deployment's record: a migration (or the code rollback)
    # recorded before, by an earlier run or rollback, is not run twice.
    Run(
        deps, deployments.get(deps.store, deployment.id), resumed=seen is State.INTERRUPTED
    ).rollback_and_verify(reason=reason)
