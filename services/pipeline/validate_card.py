"""The validation card: one message per run, edited in place as each check starts and ends.

Posted and edited through services.pipeline.cards (as the verify card); what the card says
is decided here; templates/validate_card.yml.j2 only presents it.
"""

from __future__ import annotations

from typing import Any

from services.chat import Chat, Message
from services.deploy.card import TAIL_LINES, TAIL_WIDTH
from services.pipeline import cards, records
from services.pipeline.records import PipelineRun, RunState
from services.redaction import redact
from services.store import Store

TEMPLATE = "validate_card"
STATE_LABELS = {
    RunState.RUNNING: "Running",
    RunState.PASSED: "Passed",
    RunState.FAILED: "Failed",
    RunState.INTERRUPTED: "Interrupted by a restart of the bot: run it again",
}


def title(run: PipelineRun) -> str:
    """ "VAL-3: critical-path · payments v2.1.1 → staging"."""
    return f"{run.id}: {run.name} · {run.service} {run.version or '?'} → {run.environment}"


def _tail(output: str) -> str:
    """The last lines a failed check printed, redacted again: a card never carries a secret."""
    lines = redact(output).rstrip().splitlines()[-TAIL_LINES:]
    return "\n".join(line[:TAIL_WIDTH] for line in lines)


def card_data(run: PipelineRun) -> dict[str, Any]:
    checks = [
        {
            "name": str(row.get("name") or "?"),
            "builtin": bool(row.get("builtin")),
            "state": str(row.get("state") or "waiting"),
            "seconds": row.get("seconds"),
            "summary": str(row.get("summary") or ""),
            "tail": _tail(str(row.get("output") or "")),
        }
        for row in run.detail.get("checks") or []
    ]
    done = sum(1 for c in checks if c["state"] not in ("waiting", "running"))
    return {
        "run": {
            "id": run.id,
            "title": title(run),
            "service": run.service,
            "environment": run.environment,
            "version": run.version,
            "suite": run.name,
            "state": run.state.value,
            "state_label": STATE_LABELS[run.state],
            "final": run.state is not RunState.RUNNING,
            "requested_by": run.requested_by,
            "incident_id": run.incident_id,
            "summary": str(run.detail.get("summary") or ""),
            "inferred": [str(line) for line in run.detail.get("inferred") or []],
            # What the target ran as the validation started (None: not read yet / unreadable).
            "running_version": run.detail.get("running_version"),
            "version_warning": run.detail.get("version_warning"),
        },
        "checks": checks,
        "progress": {"done": done, "total": len(checks)},
    }


def post_or_update(store: Store, run: PipelineRun, *, chat: Chat) -> str | None:
    """Post the card the first time, edit it afterwards; returns a problem, or None."""
    run = records.get(store, run.id)
    return cards.show(store, chat, run, Message(TEMPLATE, card_data(run), key=f"{run.id}:card"))
