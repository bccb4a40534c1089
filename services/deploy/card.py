"""The deployment card: one message per deployment, edited in place at every step."""

from __future__ import annotations

from typing import Any

from services.chat import Chat, ChatError, Message
from services.clock import Clock, isoformat, parse_iso
from services.deploy import deployments
from services.deploy.model import FINAL, Deployment, Kind, State
from services.incidents.presenting import duration_text
from services.redaction import redact
from services.store import Store

# The card shows this much of a step's output: enough to see why at 3 a.m., still compact.
TAIL_LINES = 12
TAIL_WIDTH = 200
STEPS = ("validate", "backup", "deploy", "verify")
ROLLBACK_STEPS = ("validate", "rollback", "verify")


def split_detail(detail: str) -> tuple[str, str]:
    """A step's record as (outcome line, output tail): the engine writes the outcome first,
    then what the command printed. Redacted again here: the card must never carry a secret,
    whatever path the text took."""
    summary, _, output = redact(detail).partition("\n")
    lines = output.rstrip().splitlines()[-TAIL_LINES:]
    return summary.strip(), "\n".join(line[:TAIL_WIDTH] for line in lines)


def card_data(store: Store, deployment: Deployment, *, clock: Clock) -> dict[str, Any]:
    recorded = {s["step"]: s for s in deployments.steps(store, deployment.id)}
    order = ROLLBACK_STEPS if deployment.kind is Kind.ROLLBACK else STEPS
    names = list(order) + [name for name in recorded if name not in order]
    steps = []
    for name in names:
        step = recorded.get(name)
        if step is None:
            steps.append(
                {"name": name, "state": "pending", "duration": None, "detail": "", "tail": ""}
            )
            continue
        end = parse_iso(step["finished_at"]) if step["finished_at"] else clock.now()
        summary, tail = split_detail(step["detail"] or "")
        steps.append(
            {
                "name": name,
                "state": step["state"],
                "duration": duration_text(end - parse_iso(step["started_at"])) or "0 min",
                "seconds": round((end - parse_iso(step["started_at"])).total_seconds(), 1),
                "detail": summary,
                "tail": tail,
            }
        )
    if deployment.state in FINAL:
        # Steps that never ran (validation failed, request rejected) are not "pending".
        steps = [s for s in steps if s["state"] != "pending"]
    done = sum(1 for s in steps if s["state"] in ("ok", "skipped"))
    approvals = deployments.decisions(store, deployment.id)
    return {
        "deployment": {
            "id": deployment.id,
            "kind": deployment.kind.value,
            "service": deployment.service,
            "environment": deployment.environment,
            "version": deployment.version,
            "strategy": deployment.strategy,
            "backend": deployment.backend,
            "state": deployment.state.value,
            "state_label": state_label(deployment),
            "requested_by": deployment.requested_by,
            "requested_at": isoformat(deployment.requested_at),
            "incident_id": deployment.incident_id,
            "approvals_required": deployment.approvals_required,
            "expires_at": isoformat(deployment.expires_at) if deployment.expires_at else None,
            "break_glass": deployment.break_glass,
            # False: it failed before anything touched the target (nothing to roll back).
            "changed": deployment.detail.get("changed") is not False,
            "before": deployment.before,
            # Once finished (or interrupted), what the target was found running then.
            "running_now": deployment.detail.get("running_now") or deployment.before,
            "detail": deployment.detail,
            "final": deployment.state in FINAL,
            "request_notes": request_notes(deployment),
        },
        "steps": steps,
        "progress": {
            "done": done,
            "total": len(steps),
            "bar": "▰" * done + "▱" * (len(steps) - done),
        },
        "approvals": [a for a in approvals if a["decision"] == "approve"],
        "rejections": [a for a in approvals if a["decision"] == "reject"],
    }


def request_notes(deployment: Deployment) -> list[str]:
    """What the request said beyond what/where: what the bot inferred for flags left out,
    `--preserve-data`, and a version the repository could not confirm."""
    detail = deployment.detail
    notes = [str(line) for line in detail.get("inferred") or []]
    if detail.get("preserve_data"):
        notes.append("code only (--preserve-data): no down-migration runs")
    if detail.get("version_check"):
        notes.append(str(detail["version_check"]))
    return notes


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
