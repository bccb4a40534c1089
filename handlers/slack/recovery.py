"""Acknowledged work survives the bot: journal it before the ack, pick it up after a crash.

Slack's retries cover a request until it is acknowledged; after that, only the
journal (services.journal) remembers it. The slash command and form listeners
journal the request before acknowledging it and hand the work to
`submit_journaled`, which marks it finished however it ends. On start,
`recover_after_crash` finishes the war rooms a crash cut short and runs the
journaled work again: every flow is idempotent under replays (keyed by the
trigger id), so work that had in fact completed is answered, not redone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from handlers.core.context import Deps
from handlers.slack.payloads import REPLAYED
from services import journal
from services.incidents.reminders import resend_lost_reminders
from services.incidents.war_room import resume_war_rooms

log = logging.getLogger(__name__)

COMMAND = "command"
FORM = "form"
CLICK = "click"
# Slack's verification token is a credential and the view's blocks are large: neither
# is needed to run the work again.
_DROPPED = frozenset({"token"})

Replayer = Callable[[dict[str, Any], Respond | None], None]


def journal_request(deps: Deps, *, kind: str, payload: dict[str, Any]) -> str | None:
    """Record the request before its ack; returns its key (None when it has no trigger id)."""
    key = payload.get("trigger_id")
    if not key:
        return None
    kept = {k: v for k, v in payload.items() if k not in _DROPPED}
    if isinstance(kept.get("view"), dict):
        kept["view"] = {k: v for k, v in kept["view"].items() if k != "blocks"}
    if isinstance(kept.get("message"), dict):  # a click needs to know which message, not its blocks
        kept["message"] = {k: v for k, v in kept["message"].items() if k in ("ts", "thread_ts")}
    journal.accept(deps.store, clock=deps.clock, request_key=str(key), kind=kind, payload=kept)
    return str(key)


def submit_journaled(
    deps: Deps, key: str | None, job: Callable[[], None], *, describe: str
) -> None:
    """Run `job` on the worker, marking its journal entry finished however it ends.

    Only a crash leaves the entry open, for `recover_after_crash` to run again.
    """

    def run() -> None:
        outcome = "failed"
        try:
            job()
            outcome = "done"
        finally:
            if key is not None:
                journal.finish(deps.store, clock=deps.clock, request_key=key, outcome=outcome)

    # One run of a request at a time: Slack's retry of it waits for the run (or the
    # replay after a crash) already under way, and then finds that work done.
    deps.worker.submit(run, describe=describe, one_at_a_time=key)


def recover_after_crash(deps: Deps, replayers: dict[str, Replayer]) -> None:
    """Finish interrupted war rooms and lost reminders first, then run the journaled work again."""
    for report in resume_war_rooms(deps.war_room):
        left = "; Slack unavailable, the tick retries" if report.incomplete else ""
        log.warning("resumed the war room of %s after a restart%s", report.incident.id, left)
    for incident_id in resend_lost_reminders(deps=deps.war_room):
        log.warning("posted the reminder of %s that a crash had swallowed", incident_id)
    now = deps.clock.now()
    for entry in journal.unfinished(deps.store):
        replay = replayers.get(entry.kind)
        skip = "unknown kind" if replay is None else journal.why_not_replayable(entry, now=now)
        if replay is None or skip is not None:
            # Too old to answer where it was asked (response_url lasts 30 minutes), or
            # cut short on every run so far: likely what brought the bot down.
            log.error(
                "not running %s %s again (%s): accepted at %s, run %d time(s) after restarts",
                entry.kind,
                entry.request_key,
                skip,
                entry.accepted_at.isoformat(),
                entry.replays,
            )
            journal.finish(
                deps.store, clock=deps.clock, request_key=entry.request_key, outcome=str(skip)
            )
            continue
        log.warning("running %s %s again after a restart", entry.kind, entry.request_key)
        journal.count_replay(deps.store, entry.request_key)
        response_url = entry.payload.get("response_url")
        respond = Respond(response_url=response_url) if response_url else None
        replay({**entry.payload, REPLAYED: True}, respond)
