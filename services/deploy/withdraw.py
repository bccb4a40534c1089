"""Taking back a request nobody approved yet: its requester withdraws it, or an emergency
rollback of the same target supersedes it.

A cancelled request can no longer be approved (the compare-and-set from `requested` fails
for whoever comes second), its card loses its buttons and says why, and the timeline has
the row.
"""

from __future__ import annotations

from services import timeline
from services.chat import Chat
from services.clock import Clock
from services.deploy import card, controls, deployments
from services.deploy.model import FINAL, Deployment, State
from services.errors import ConflictError, PermissionDeniedError
from services.store import Store


def cancel(
    store: Store,
    *,
    clock: Clock,
    chat: Chat,
    deployment: Deployment,
    actor: str,
    reason: str,
    superseded_by: str | None = None,
) -> Deployment:
    """Move a pending request to cancelled (ConflictError if it is no longer pending)."""
    moved = deployments.transition(
        store,
        clock=clock,
        deployment=deployment,
        to=State.CANCELLED,
        actor=actor,
        text=f"cancelled: {reason}",
        data={"reason": reason, "superseded_by": superseded_by},
        expect=State.REQUESTED,
    )
    deployments.merge_detail(
        store,
        deployment.id,
        cancelled={"by": actor, "reason": reason, "superseded_by": superseded_by},
    )
    card.post_or_update(store, moved, clock=clock, chat=chat, channel=moved.channel_id)
    return deployments.get(store, deployment.id)


def supersede_pending(
    store: Store, *, clock: Clock, chat: Chat, target: Deployment, actor: str, by: str
) -> list[str]:
    """Cancel every pending request for `target`'s service and environment; their ids."""
    cancelled = []
    for pending in deployments.in_states(store, {State.REQUESTED}):
        if pending.target != target.target or pending.id == target.id:
            continue
        try:
            cancel(
                store,
                clock=clock,
                chat=chat,
                deployment=pending,
                actor=actor,
                reason=f"superseded by {by}",
                superseded_by=by,
            )
        except ConflictError:
            continue  # approved (or withdrawn) a moment ago: the rollback's lock decides
        cancelled.append(pending.id)
    return cancelled


def withdraw(
    store: Store, *, clock: Clock, chat: Chat, deployment: Deployment, actor: str
) -> Deployment:
    """The requester takes back their own pending request."""
    if actor != deployment.requested_by:
        raise PermissionDeniedError(
            f"Only {deployment.requested_by}, who requested {deployment.id}, can withdraw it.",
            hint="Approvers can reject it instead.",
        )
    if deployment.state is State.CANCELLED:
        raise ConflictError(f"{deployment.id} is already cancelled.")
    if deployment.state in FINAL:
        raise ConflictError(
            f"{deployment.id} {_has(deployment.state)}: only a pending request can be withdrawn."
        )
    if deployment.state is not State.REQUESTED:
        raise ConflictError(
            f"{deployment.id} is {deployment.state.label.lower()}: it was approved and can no"
            " longer be withdrawn.",
            hint="Stop it with the Rollback button on its card, or /hotfix rollback.",
        )
    return cancel(
        store,
        clock=clock,
        chat=chat,
        deployment=deployment,
        actor=actor,
        reason=f"withdrawn by {actor}",
    )


def _has(state: State) -> str:
    return f"has {state.label.lower()}" if state is State.SUCCEEDED else f"is {state.label.lower()}"


def stop(store: Store, *, clock: Clock, deployment: Deployment, actor: str) -> bool:
    """Stop a running deployment so that it rolls back (Rollback button, typed rollback).

    The timeline names who asked, whichever way they asked: a live canary's stop is its
    Abort (the same row as the Abort button), any other deployment gets its own row.
    Returns False when a stop was already requested.
    """
    if controls.is_live(deployment):
        controls.operate(store, clock=clock, deployment=deployment, actor=actor, command="abort")
        return True
    if not deployments.request_abort(store, deployment.id):
        return False
    timeline.append(
        store,
        clock=clock,
        incident_id=deployment.incident_id,
        actor=actor,
        kind="deploy_abort_requested",
        text=f"{deployment.id}: rollback requested by {actor} while {deployment.state.label.lower()}",
        data={"deployment_id": deployment.id, "during": deployment.state.value},
    )
    return True
