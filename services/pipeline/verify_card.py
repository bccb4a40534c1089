"""The verify card: one message per verification, posted once and edited in place.

What it says is decided here (`card_data`); templates/verify_card.yml.j2 only presents it.
Posted where the verification was asked (an incident's war room first); the console prints
the same template.
"""

from __future__ import annotations

from typing import Any

from services.chat import Chat, Message
from services.clock import Clock, parse_iso
from services.deploy.engine.deps import DeployDeps
from services.pipeline import cards, records
from services.pipeline.records import PipelineRun, RunState
from services.store import Store

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
    again = f"/hotfix rollback --target={run.environment} --service={run.service}"
    if outcome == "failed" and not rollback:
        advice = again
    # A restart killed the sampling: an armed --auto-rollback will never fire, say so plainly.
    interrupted_rollback = None
    if run.state is RunState.INTERRUPTED and detail.get("auto_rollback"):
        interrupted_rollback = (
            "--auto-rollback was armed, but the verification was interrupted: NO rollback ran."
            f" If what runs is bad, roll back: `{again}`"
        )
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
            "interrupted_rollback": interrupted_rollback,
        }
    }


def show(deps: DeployDeps, run: PipelineRun) -> str | None:
    """Post the card the first time, edit it afterwards; returns a problem, or None (the
    verification goes on when Slack refuses its card: the record and the timeline have it)."""
    return show_with(deps.store, deps.chat, run, clock=deps.clock)


def show_with(store: Store, chat: Chat, run: PipelineRun, *, clock: Clock) -> str | None:
    run = records.get(store, run.id)
    message = Message("verify_card", card_data(run, clock=clock), key=f"{run.id}:card")
    return cards.show(store, chat, run, message)
