"""The deployment card: one message per deployment, edited in place at every step.

What the card says is decided here, in Python (`present` builds a `Card`): whether a
canary is live, which buttons show, the state's words, what runs and what is coming. The
templates (deploy_card, deploy_status, deploy_ack...) only present the data `Card.as_data`
gives them; the same data is queued in the outbox when Slack is down, so it stays JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.chat import Chat, ChatError, Message
from services.clock import Clock, isoformat, parse_iso
from services.deploy import deployments, live
from services.deploy.gates import Refusal
from services.deploy.live import CanaryState
from services.deploy.model import FINAL, Deployment, Kind, State
from services.incidents.presenting import duration_text
from services.redaction import redact
from services.store import Store

# The card shows this much of a step's output: enough to see why at 3 a.m., still compact.
TAIL_LINES = 12
TAIL_WIDTH = 200
STEPS = ("validate", "backup", "deploy", "verify")
ROLLBACK_STEPS = ("validate", "rollback", "verify")
# While these run (or after a failure that changed the target), Rollback undoes it.
ROLLBACK_OFFERED = frozenset(
    {State.APPROVED, State.VALIDATING, State.DEPLOYING, State.VERIFYING, State.SUCCEEDED}
)


class Actions(StrEnum):
    """The buttons the card shows now."""

    DECIDE = "decide"  # Approve, Reject: waiting for approval
    RECOVER = "recover"  # Resume, Rollback: interrupted
    STEER = "steer"  # Promote, Pause or Resume, Abort: a canary walking its stages
    ROLLBACK = "rollback"  # Rollback: running, finished, or failed after changing the target
    NONE = "none"


@dataclass(frozen=True)
class StepRow:
    name: str
    state: str  # pending, running, ok, failed, skipped
    duration: str | None
    seconds: float | None
    detail: str  # the outcome line
    tail: str  # the last lines of what it printed

    def as_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "duration": self.duration,
            "seconds": self.seconds,
            "detail": self.detail,
            "tail": self.tail,
        }


@dataclass(frozen=True)
class CanaryView:
    """A progressive deployment's live state as the card shows it."""

    state: CanaryState
    live: bool  # walking its stages now: Promote, Pause/Resume and Abort are answered

    @property
    def held(self) -> bool:
        """Paused by a person or waiting for a decision: the card offers Resume, not Pause."""
        return self.state.paused or self.state.waiting

    @property
    def notice(self) -> str | None:
        """The line under the canary while it is live: waiting, paused or promoting."""
        if not self.live:
            return None
        if self.state.waiting:
            return "waiting"
        if self.state.paused:
            return "paused"
        return "promote_requested" if self.state.promote_requested else None


@dataclass(frozen=True)
class Card:
    deployment: Deployment
    steps: tuple[StepRow, ...]
    approvals: tuple[Mapping[str, Any], ...]
    rejections: tuple[Mapping[str, Any], ...]
    canary: CanaryView | None

    @property
    def actions(self) -> Actions:
        d = self.deployment
        if d.state is State.REQUESTED:
            return Actions.DECIDE
        if d.state is State.INTERRUPTED:
            return Actions.RECOVER
        if self.canary is not None and self.canary.live:
            return Actions.STEER
        if d.detail.get("manual_intervention"):
            # The war room was told people must take over the database: no button runs
            # the rollback (and its `down`) again.
            return Actions.NONE
        if d.state in ROLLBACK_OFFERED or (d.state is State.FAILED and changed(d)):
            return Actions.ROLLBACK
        return Actions.NONE

    @property
    def coming(self) -> str | None:
        """The version on its way, shown after what runs now ("v2.1.1 → v2.1.2")."""
        d = self.deployment
        if d.state in FINAL or d.state in (State.INTERRUPTED, State.ROLLING_BACK):
            return None
        return d.version

    def as_data(self) -> dict[str, Any]:
        d = self.deployment
        done = sum(1 for s in self.steps if s.state in ("ok", "skipped"))
        cancelled = d.detail.get("cancelled")
        return {
            "deployment": {
                "id": d.id,
                "kind": d.kind.value,
                "title": title(d),
                "service": d.service,
                "environment": d.environment,
                "version": d.version,
                "strategy": d.strategy,
                "backend": d.backend,
                "state": d.state.value,
                "state_label": state_label(d),
                "requested_by": d.requested_by,
                "requested_at": isoformat(d.requested_at),
                "incident_id": d.incident_id,
                "approvals_required": d.approvals_required,
                "expires_at": isoformat(d.expires_at) if d.expires_at else None,
                # Only a request waiting for approval can expire.
                "expiring": d.state is State.REQUESTED and d.expires_at is not None,
                "break_glass": d.break_glass,
                # False: it failed before anything touched the target (nothing to roll back).
                "changed": changed(d),
                "before": d.before,
                # Once finished (or interrupted), what the target was found running then.
                "running_now": d.detail.get("running_now") or d.before,
                "coming": self.coming,
                "detail": d.detail,
                "final": d.state in FINAL,
                "request_notes": request_notes(d),
                # Loud: what break-glass skipped, and a rollback that needs people now.
                "warnings": warnings(d),
            },
            "steps": [s.as_data() for s in self.steps],
            "progress": {
                "done": done,
                "total": len(self.steps),
                "bar": "▰" * done + "▱" * (len(self.steps) - done),
            },
            "approvals": [dict(a) for a in self.approvals],
            "rejections": [dict(a) for a in self.rejections],
            "actions": self.actions.value,
            "canary": self.canary.state.as_data() if self.canary else None,
            "canary_notice": self.canary.notice if self.canary else None,
            "canary_held": self.canary.held if self.canary else False,
            # A blue-green Rollout reports the same live state; the card says it in its words.
            "canary_style": "blue-green" if d.strategy == "blue-green" else "canary",
            # Withdrawn by its requester, or superseded by an emergency rollback.
            "cancelled": cancelled
            if d.state is State.CANCELLED and isinstance(cancelled, Mapping)
            else None,
        }


def present(
    deployment: Deployment,
    *,
    steps: Sequence[Mapping[str, Any]],
    decisions: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Card:
    """The card of `deployment`, from its recorded steps and decisions, as of `now`."""
    recorded = {s["step"]: s for s in steps}
    order = ROLLBACK_STEPS if deployment.kind is Kind.ROLLBACK else STEPS
    # The steps that ran, in the order they ran (smoke, migrations and hooks among them),
    # then those still to come.
    names = list(recorded) + [name for name in order if name not in recorded]
    rows = [step_row(name, recorded.get(name), now) for name in names]
    if deployment.state in FINAL:
        # Steps that never ran (validation failed, request rejected) are not "pending".
        rows = [s for s in rows if s.state != "pending"]
    # Whatever reports a live state (a canary, an Argo Rollout of either strategy) gets its
    # progress and its controls on the card.
    state = live.stored(deployment.detail)
    return Card(
        deployment=deployment,
        steps=tuple(rows),
        approvals=tuple(a for a in decisions if a["decision"] == "approve"),
        rejections=tuple(a for a in decisions if a["decision"] == "reject"),
        canary=CanaryView(state, live.is_live(deployment)) if state is not None else None,
    )


def step_row(name: str, step: Mapping[str, Any] | None, now: datetime) -> StepRow:
    if step is None:
        return StepRow(name, "pending", None, None, "", "")
    started = parse_iso(step["started_at"])
    end = parse_iso(step["finished_at"]) if step["finished_at"] else now
    summary, tail = split_detail(step["detail"] or "")
    return StepRow(
        name=name,
        state=step["state"],
        duration=duration_text(end - started) or "0 min",
        seconds=round((end - started).total_seconds(), 1),
        detail=summary,
        tail=tail,
    )


def card_data(store: Store, deployment: Deployment, *, clock: Clock) -> dict[str, Any]:
    """The card's data for the templates, read from the store."""
    return present(
        deployment,
        steps=deployments.steps(store, deployment.id),
        decisions=deployments.decisions(store, deployment.id),
        now=clock.now(),
    ).as_data()


def split_detail(detail: str) -> tuple[str, str]:
    """A step's record as (outcome line, output tail): the engine writes the outcome first,
    then what the command printed. Redacted again here: the card must never carry a secret,
    whatever path the text took."""
    summary, _, output = redact(detail).partition("\n")
    lines = output.rstrip().splitlines()[-TAIL_LINES:]
    return summary.strip(), "\n".join(line[:TAIL_WIDTH] for line in lines)


def changed(deployment: Deployment) -> bool:
    """False when it failed before anything touched the target: nothing to roll back."""
    return deployment.detail.get("changed") is not False


def title(deployment: Deployment) -> str:
    """ "DEP-4: payments v2.1.2 → production", "Rollback DEP-5: payments to v2.1.1 → …"."""
    d = deployment
    if d.kind is Kind.ROLLBACK:
        return f"Rollback {d.id}: {d.service} to {d.version} → {d.environment}"
    return f"{d.id}: {d.service} {d.version} → {d.environment}"


def request_notes(deployment: Deployment) -> list[str]:
    """What the request said beyond what/where: what the bot inferred for flags left out,
    `--preserve-data`, and a version the repository could not confirm."""
    detail = deployment.detail
    notes = [str(line) for line in detail.get("inferred") or []]
    if detail.get("preserve_data"):
        notes.append("code only (--preserve-data): no down-migration runs, data and schema kept")
    if detail.get("version_check"):
        notes.append(str(detail["version_check"]))
    return notes


def warnings(deployment: Deployment) -> list[str]:
    """Lines the card shows in red: gates break-glass skipped, manual intervention needed."""
    lines = []
    for skipped in deployment.detail.get("gates_skipped") or []:
        if isinstance(skipped, Mapping):
            lines.append(Refusal(str(skipped.get("gate")), str(skipped.get("reason"))).skipped_line)
    manual = deployment.detail.get("manual_intervention")
    if isinstance(manual, Mapping):
        lines.append(
            "MANUAL INTERVENTION REQUIRED: the database rollback failed"
            f" ({str(manual.get('error') or '').partition(chr(10))[0]}); snapshot:"
            f" {manual.get('snapshot')}"
        )
    return lines


def state_label(deployment: Deployment) -> str:
    """The state as people read it: a rollback names the version it went back to."""
    if deployment.state is not State.ROLLED_BACK:
        return deployment.state.label
    to = deployment.detail.get("rolled_back_to")
    label = f"Rolled back to {to}" if to else deployment.state.label
    rolled_back = deployment.detail.get("rolled_back")
    if isinstance(rolled_back, dict) and rolled_back.get("confirmed") is False:
        label += " (not confirmed: no status command)"
    return label


def post_or_update(
    store: Store,
    deployment: Deployment,
    *,
    clock: Clock,
    chat: Chat,
    channel: str | None,
    look_first: bool = False,
) -> str | None:
    """Post the card the first time, edit it afterwards; returns a problem, or None.

    `look_first` (a request run again after a crash): a card posted before the crash but
    never recorded is found by its key and edited instead of posted a second time.
    """
    deployment = deployments.get(store, deployment.id)
    key = f"{deployment.id}:card"
    message = Message("deploy_card", card_data(store, deployment, clock=clock), key=key)
    try:
        found = chat.find_message(channel, key) if look_first and channel else None
        if found and channel:
            deployments.set_card(store, deployment.id, channel_id=channel, ts=found)
            deployment = deployments.get(store, deployment.id)
        if deployment.card_ts and deployment.channel_id:
            chat.update(deployment.channel_id, deployment.card_ts, message)
        elif channel:
            posted = chat.post(channel, message)
            deployments.set_card(store, deployment.id, channel_id=posted.channel_id, ts=posted.ts)
    except ChatError as exc:
        return f"Could not update the deployment card: `{exc.error}`"
    return None
