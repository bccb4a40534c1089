"""A progressive canary's live state and its human controls, kept in the deployment's row.

The Kubernetes side lives in :mod:`services.deploy.backends.kubernetes.canary.walk`; this module is what
surrounds it:

* :class:`CanaryHooks` - what the canary loop needs from around it (the recorded
  position, the control flags, the card, the war room, the timeline). The base class
  keeps everything in memory and talks to nobody: backend tests and dry runs.
* :class:`StoreHooks` - the same backed by SQLite and the chat: flags are columns of
  ``deployments`` (migration 5), the live state is ``detail["canary"]``, the card is
  edited in place (throttled), announcements go to the war room.
* :func:`operate` - the buttons (Promote, Pause, Resume, Abort): a compare-and-set on
  the flags plus a timeline entry, in one transaction. The loop reads the flags at
  every poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from services import timeline
from services.access import is_terminal_actor, members_of
from services.audit import AuditEntry, Outcome, record
from services.chat import Chat, ChatError, Message
from services.clock import Clock
from services.deploy import card, deployments
from services.deploy.model import Deployment, State
from services.errors import ConflictError, PermissionDeniedError
from services.settings import AccessSettings
from services.store import Store

log = logging.getLogger(__name__)
BOT = "hotfix-bot"

# canary_paused column: why the loop holds the current weight.
RUNNING, PAUSED_BY_PERSON, WAITING_FOR_DECISION = 0, 1, 2
# Phases in which the canary loop is walking stages and answers the buttons.
LIVE_PHASES = ("starting", "stage")
# The smallest gap between two card edits for material changes (Slack's chat.update limits).
MIN_CARD_GAP_SECONDS = 1.0

Command = Literal["promote", "pause", "resume", "abort"]


@dataclass(frozen=True)
class Controls:
    """The flags people set with the buttons, as the loop reads them at every poll."""

    paused: int = RUNNING  # RUNNING, PAUSED_BY_PERSON or WAITING_FOR_DECISION
    reason: str | None = None
    promote: bool = False

    @property
    def holding(self) -> bool:
        return self.paused != RUNNING


class CanaryHooks:
    """In-memory hooks: the loop works alone (no store, no chat). Subclassed by StoreHooks."""

    def __init__(self, *, service: str | None = None, recorded: Mapping[str, Any] | None = None):
        self.service = service
        self._recorded = dict(recorded) if recorded else None
        self.flags = Controls()
        self.reports: list[dict[str, Any]] = []
        self.announcements: list[str] = []
        self.events: list[tuple[str, str]] = []

    def recorded(self) -> dict[str, Any] | None:
        """The state persisted by an earlier run of this deployment (to resume), or None."""
        return self._recorded

    def controls(self) -> Controls:
        return self.flags

    def hold(self, reason: str) -> None:
        """Pause for a human decision (an inconclusive analysis)."""
        self.flags = Controls(WAITING_FOR_DECISION, reason, self.flags.promote)

    def release(self) -> None:
        """Forget a pause: a person resumed the whole deployment after an interruption."""
        self.flags = Controls(RUNNING, None, self.flags.promote)

    def report(self, state: Mapping[str, Any], *, material: bool, force: bool = False) -> None:
        """Persist the live state; `material` when something a person cares about changed."""
        self._recorded = dict(state)
        if material or force:
            self.reports.append(dict(state))

    def announce(self, text: str) -> None:
        """Tell the war room."""
        self.announcements.append(text)

    def event(self, kind: str, text: str, data: Mapping[str, Any], *, audit: bool = False) -> None:
        """A timeline entry (and an audit row for the bot's own decisions that matter)."""
        self.events.append((kind, text))


@runtime_checkable
class CanaryAware(Protocol):
    def attach_hooks(self, hooks: CanaryHooks) -> None: ...


def attach(
    backend: object,
    *,
    store: Store,
    clock: Clock,
    chat: Chat,
    deployment: Deployment,
    card_update_seconds: float,
) -> None:
    """The engine's hook: give a canary backend the deployment's store-backed hooks."""
    if isinstance(backend, CanaryAware):
        backend.attach_hooks(
            StoreHooks(
                store=store,
                clock=clock,
                chat=chat,
                deployment=deployment,
                card_update_seconds=card_update_seconds,
            )
        )


# --------------------------------------------------------------------------- the store


def read_controls(store: Store, deployment_id: str) -> Controls:
    row = store.query_one(
        "SELECT canary_paused, canary_pause_reason, canary_promote FROM deployments WHERE id = ?",
        (deployment_id,),
    )
    if row is None:
        return Controls()
    return Controls(
        int(row["canary_paused"]), row["canary_pause_reason"], bool(row["canary_promote"])
    )


def _overlay(state: Mapping[str, Any], controls: Controls) -> dict[str, Any]:
    """The live state with the flags as they are now (a click may be newer than the loop)."""
    return {
        **state,
        "paused": controls.paused == PAUSED_BY_PERSON,
        "waiting": controls.paused == WAITING_FOR_DECISION,
        "pause_reason": controls.reason,
        "promote_requested": controls.promote,
    }


class StoreHooks(CanaryHooks):
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        chat: Chat,
        deployment: Deployment,
        card_update_seconds: float,
    ) -> None:
        super().__init__(service=deployment.service)
        self.store = store
        self.clock = clock
        self.chat = chat
        self.deployment_id = deployment.id
        self.incident_id = deployment.incident_id
        self.card_update_seconds = card_update_seconds
        self._last_card: datetime | None = None
        self._dirty = False

    def recorded(self) -> dict[str, Any] | None:
        found = deployments.get(self.store, self.deployment_id).detail.get("canary")
        return dict(found) if isinstance(found, dict) else None

    def controls(self) -> Controls:
        return read_controls(self.store, self.deployment_id)

    def hold(self, reason: str) -> None:
        self.store.conn.execute(
            "UPDATE deployments SET canary_paused = ?, canary_pause_reason = ? WHERE id = ?",
            (WAITING_FOR_DECISION, reason[:500], self.deployment_id),
        )

    def release(self) -> None:
        self.store.conn.execute(
            "UPDATE deployments SET canary_paused = 0, canary_pause_reason = NULL WHERE id = ?",
            (self.deployment_id,),
        )

    def report(self, state: Mapping[str, Any], *, material: bool, force: bool = False) -> None:
        now = self.clock.now()
        self._dirty = self._dirty or material
        since = (now - self._last_card).total_seconds() if self._last_card else None
        due = (
            force
            or since is None
            or (self._dirty and since >= MIN_CARD_GAP_SECONDS)
            or since >= self.card_update_seconds
        )
        if material or due:
            with self.store.transaction():
                controls = read_controls(self.store, self.deployment_id)
                deployments.merge_detail(
                    self.store, self.deployment_id, canary=_overlay(state, controls)
                )
        if not due:
            return
        self._last_card = now
        self._dirty = False
        deployment = deployments.get(self.store, self.deployment_id)
        problem = card.post_or_update(
            self.store, deployment, clock=self.clock, chat=self.chat, channel=deployment.channel_id
        )
        if problem:
            log.warning("%s: %s", self.deployment_id, problem)

    def announce(self, text: str) -> None:
        channel = deployments.get(self.store, self.deployment_id).channel_id
        if channel is None:
            return
        try:
            self.chat.post(channel, Message("plain", {"text": text}))
        except ChatError as exc:
            log.warning("%s: could not tell the war room: %s", self.deployment_id, exc.error)

    def event(self, kind: str, text: str, data: Mapping[str, Any], *, audit: bool = False) -> None:
        with self.store.transaction():
            timeline.append(
                self.store,
                clock=self.clock,
                incident_id=self.incident_id,
                actor=BOT,
                kind=kind,
                text=f"{self.deployment_id}: {text}",
                data={"deployment_id": self.deployment_id, **data},
            )
            if audit:
                record(
                    self.store,
                    clock=self.clock,
                    entry=AuditEntry(
                        actor=BOT,
                        source="engine",
                        action=f"{kind}:{self.deployment_id}",
                        outcome=Outcome.OK,
                        detail=text,
                    ),
                )


# --------------------------------------------------------------------------- the buttons


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
    state = deployment.detail.get("canary")
    return (
        deployment.strategy == "canary"
        and deployment.state in (State.APPROVED, State.VALIDATING, State.DEPLOYING)
        and isinstance(state, dict)
        and state.get("phase") in LIVE_PHASES
    )


def operate(
    store: Store, *, clock: Clock, deployment: Deployment, actor: str, command: Command
) -> str:
    """Set one control flag (compare-and-set) and put the click on the timeline; the answer."""
    if not is_live(deployment):
        raise ConflictError(
            f"{deployment.id} is not running a canary now ({deployment.state.label.lower()}).",
            hint="The card shows where it is; Rollback undoes a finished deployment.",
        )
    where = deployment.detail["canary"]
    at = f"at {where.get('weight', 0)}% (stage {int(where.get('stage', 0)) + 1}/{len(where.get('stages') or [])})"
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
                    "canary": {"stage": where.get("stage"), "weight": where.get("weight")},
                },
            )
            controls = read_controls(store, deployment.id)
            deployments.merge_detail(store, deployment.id, canary=_overlay(where, controls))
    return answer
