"""Signed requests that lack what every Slack request of their kind carries get a 400.

Bolt verifies the signature before this runs, so whoever sent these knows the
signing secret; still, a command without `team_id` or a `block_actions` payload
without a user must be answered "bad request", not crash a listener into a 500.
The fields required here are the ones Slack documents for each payload and the
bot's listeners read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

# Interactivity payloads (the `payload=` form field) and what identifies each.
_INTERACTIONS: dict[str, tuple[str, ...]] = {
    "block_actions": ("actions",),
    "view_submission": ("view",),
    "view_closed": ("view",),
    "shortcut": ("callback_id",),
    "message_action": ("callback_id",),
    "block_suggestion": ("action_id",),
}
_EVENTS_API = ("event_callback", "url_verification", "app_rate_limited")
_COMMAND_FIELDS = ("command", "team_id", "user_id", "channel_id")


def problem(body: dict[str, Any]) -> str | None:
    """What is missing from this request, or None when it has the shape of its kind."""
    if "command" in body:
        missing = [f for f in _COMMAND_FIELDS if not isinstance(body.get(f), str) or not body[f]]
        return f"slash command without {', '.join(missing)}" if missing else None
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        return "no request type"
    if kind in _EVENTS_API:
        event = body.get("event")
        if kind == "event_callback" and not (isinstance(event, dict) and event.get("type")):
            return "event_callback without an event"
        return None
    required = _INTERACTIONS.get(kind)
    if required is None:
        return f"unknown request type {kind[:40]!r}"
    user = body.get("user")
    if not (isinstance(user, dict) and isinstance(user.get("id"), str) and user["id"]):
        return f"{kind} without a user"
    missing = [f for f in required if not body.get(f)]
    if missing:
        return f"{kind} without {', '.join(missing)}"
    actions = body.get("actions")
    if kind == "block_actions" and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        return "block_actions whose actions are not a list of actions"
    return None


def register(app: App) -> None:
    @app.middleware
    def only_well_formed(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        wrong = problem(body)
        if wrong is None:
            return next()
        log.warning("a signed request was malformed and refused with 400: %s", wrong)
        answer = {"error": "malformed request", "detail": wrong}
        return BoltResponse(
            status=400, body=json.dumps(answer), headers={"content-type": "application/json"}
        )
