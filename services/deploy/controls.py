"""The people's controls of a progressive deployment: Promote, Pause, Resume, Abort.

Each click is a compare-and-set on the deployment's flags plus a timeline entry, in one
transaction; the backend reads the flags at every poll (services.deploy.context).
"""

from __future__ import annotations

from typing import Literal

from services import timeline
from services.access import is_terminal_actor, members_of
from services.chat import Chat
from services.clock import Clock
from services.deploy import deployments, live
from services.deploy.backend import PAUSED_BY_PERSON, WAITING_FOR_DECISION
from services.deploy.context import overlay, read_controls
from services.deploy.model import Deployment
from services.errors import ConflictError, PermissionDeniedError
from services.settings import AccessSettings
from services.store import Store

Command = Literal["promote", "pause", "resume", "abort"]


def require_operator(
    actor: str, *, access: AccessSettings, approvers: list[str], chat: Chat, what: str
) -> None:
    """Deployers and the environment's approvers may steer a canary; nobody else."""
    if access.console_is_trusted and is_terminal_actor(actor):
        return
    if actor in members_of(list(access.deployers) + list(approvers), chat=chat):
        return
    raise PermissionDeniedError(
        f"Only deployers and this environment's approvers may {what}.",
        hint="They are listed under access.deployers and the environment's approvers.",
    )


def is_live(deployment: Deployment) -> bool:
    """Walking stages now: the buttons are answered."""
    return live.is_live(deployment)


def operate(
    store: Store, *, clock: Clock, deployment: Deployment, actor: str, command: Command
) -> str:
    """Set one control flag (compare-and-set) and put the click on the timeline; the answer."""
    if not is_live(deployment):
        raise ConflictError(
            f"{deployment.id} is not running a canary now ({deployment.state.label.lower()}).",
            hint="The card shows where it is; Rollback undoes a finished deployment.",
        )
    where = live.stored(deployment.detail)
    assert where is not None  # is_live
    at = f"at {where.at}"
    with store.transaction() as conn:
        if command == "promote":
            changed = conn.execute(
                "UPDATE deployments SET canary_promote = 1 WHERE id = ? AND canary_promote = 0",
                (deployment.id,),
            ).rowcount
            text = f"promotion to 100% requested by {actor} {at}"
            answer = (
                f"Promoting {deployment.id}: skipping to 100%, then stable gets {deployment.version}."
                if changed
                else f"Promotion of {deployment.id} was already requested."
            )
        elif command == "pause":
            changed = conn.execute(
                "UPDATE deployments SET canary_paused = ?, canary_pause_reason = ?"
                " WHERE id = ? AND canary_paused = 0",
                (PAUSED_BY_PERSON, f"paused by {actor}", deployment.id),
            ).rowcount
            text = f"canary paused by {actor} {at}"
            answer = (
                f"Paused {deployment.id} {at}: the weights stay as they are until Resume."
                if changed
                else f"{deployment.id} is already paused."
            )
        elif command == "resume":
            before = read_controls(store, deployment.id)
            changed = conn.execute(
                "UPDATE deployments SET canary_paused = 0, canary_pause_reason = NULL"
                " WHERE id = ? AND canary_paused != 0",
                (deployment.id,),
            ).rowcount
            decided = (
                " (the inconclusive analysis starts over)"
                if before.paused == WAITING_FOR_DECISION
                else ""
            )
            text = f"canary resumed by {actor} {at}{decided}"
            answer = (
                f"Resumed {deployment.id} {at}{decided}."
                if changed
                else f"{deployment.id} is not paused."
            )
        else:
            changed = int(deployments.request_abort(store, deployment.id))
            text = f"canary abort requested by {actor} {at}"
            answer = (
                f"Aborting {deployment.id}: traffic goes back to stable in one write, then it"
                " rolls back."
                if changed
                else f"Abort of {deployment.id} was already requested."
            )
        if changed:
            timeline.append(
                store,
                clock=clock,
                incident_id=deployment.incident_id,
                actor=actor,
                kind=f"canary_{command}",
                text=f"{deployment.id}: {text}",
                data={
                    "deployment_id": deployment.id,
                    "command": command,
                    "canary": {"stage": where.stage, "weight": where.weight},
                },
            )
            controls = read_controls(store, deployment.id)
            deployments.merge_detail(store, deployment.id, canary=overlay(where, controls))
    return answer
