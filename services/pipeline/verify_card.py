"""The verify card: one message per verification, posted once and edited in place.

What it says is decided here (`card_data`); templates/verify_card.yml.j2 only presents it.
Posted where the verification was asked (an incident's war room first); the console prints
the same template.
"""

from __future__ import annotations

from typing import Any

from services.chat import ChatError, Message
from services.clock import Clock, parse_iso
from services.deploy.engine.deps import DeployDeps
from services.pipeline import records
from services.pipeline.records import PipelineRun, RunState

# Endpoints and metrics shown by name; the rest are counted (Slack's 3000 characters a section).
SHOWN = 15


def seconds_text(seconds: float) -> str:
    """90 → "1 min 30 s", 300 → "5 min", 3600 → "1 h"."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(p for p in parts if p)


def card_data(run: PipelineRun, *, clock: Clock) -> dict[str, Any]:
    detail = run.detail
    outcome = detail.get("outcome") if run.state is not RunState.RUNNING else None
    left = None
    if run.state is RunState.RUNNING and detail.get("ends_at"):
        left = seconds_text((parse_iso(str(detail["ends_at"])) - clock.now()).total_seconds())
    endpoints = list(detail.get("endpoints") or [])
    metrics = list(detail.get("metrics") or [])
    rollback = detail.get("rollback")
    advice = None
    if outcome == "failed" and not rollback:
        advice = f"/hotfix rollback --target={run.environment} --service={run.service}"
    return {
        "verify": {
            "id": run.id,
            "service": run.service,
            "environment": run.environment,
            "group": run.name,
            "version": run.version,
            "state": run.state.value,
            "outcome": outcome,
            "final": run.state is not RunState.RUNNING,
            "requested_by": run.requested_by,
            "incident_id": run.incident_id,
            "duration": seconds_text(float(detail.get("seconds") or 0)),
            "samples": int(detail.get("samples") or 0),
            "expected": int(detail.get("expected") or 0),
            "time_left": left,
            "auto_rollback": bool(detail.get("auto_rollback")),
            "summary": detail.get("summary"),
            "inferred": list(detail.get("inferred") or []),
            "endpoints": endpoints[:SHOWN],
            "endpoints_more": max(0, len(endpoints) - SHOWN),
            "metrics": metrics[:SHOWN],
            "metrics_more": max(0, len(metrics) - SHOWN),
            "rollback": rollback,
            "advice": advice,
        }
    }


def show(deps: DeployDeps, run: PipelineRun) -> str | None:
    """Post the card the first time, edit it afterwards; returns a problem, or None (the
    verification goes on when Slack refuses its card: the record and the timeline have it)."""
    run = records.get(deps.store, run.id)
    if run.channel_id is None:
        return None
    message = Message("verify_card", card_data(run, clock=deps.clock), key=f"{run.id}:card")
    try:
        if run.card_ts:
            deps.chat.update(run.channel_id, run.card_ts, message)
        else:
            posted = deps.chat.post(run.channel_id, message)
            records.set_card(deps.store, run.id, channel_id=posted.channel_id, card_ts=posted.ts)
    except ChatError as exc:
        return f"Could not post the verification card: `{exc.error}`"
    return None
