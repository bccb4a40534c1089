"""The engine's DeployContext: a backend's controls, live state and messages, kept in the
deployment's row and told to the people.

The flags people set with the buttons are columns of ``deployments`` (migration 5); the
live state is ``detail["canary"]`` (services.deploy.live); the card is edited in place,
throttled to Slack's chat.update pace; announcements go to the war room; events go on
the incident's timeline (and the audit log for the bot's own decisions that matter).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services import timeline
from services.audit import AuditEntry, Outcome, record
from services.chat import Chat, ChatError, Message
from services.clock import Clock
from services.deploy import card, deployments, live
from services.deploy.backend import (
    PAUSED_BY_PERSON,
    WAITING_FOR_DECISION,
    Controls,
    DeployContext,
)
from services.deploy.live import CanaryState
from services.deploy.model import Deployment
from services.store import Store

log = logging.getLogger(__name__)
BOT = timeline.BOT_ACTOR
# The smallest gap between two card edits for material changes (Slack's chat.update limits).
MIN_CARD_GAP_SECONDS = 1.0


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


def overlay(state: CanaryState, controls: Controls) -> dict[str, Any]:
    """The live state with the flags as they are now (a click may be newer than the loop)."""
    return state.changed(
        paused=controls.paused == PAUSED_BY_PERSON,
        waiting=controls.paused == WAITING_FOR_DECISION,
        pause_reason=controls.reason,
        promote_requested=controls.promote,
    ).as_data()


class StoreContext(DeployContext):
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

    def recorded(self) -> CanaryState | None:
        return live.stored(deployments.get(self.store, self.deployment_id).detail)

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

    def report(self, state: CanaryState, *, material: bool, force: bool = False) -> None:
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
                    self.store, self.deployment_id, canary=overlay(state, controls)
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
