"""Requests from people of another workspace (Slack Connect) are refused and audited.

A war room may be shared with a vendor's workspace; its people can talk there,
but they cannot declare, approve or deploy through our bot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.response import BoltResponse

from handlers.core.context import CommandEnv, Deps
from handlers.core.guard import audit
from handlers.slack.payloads import from_command, from_interaction
from services.audit import Outcome


def register(app: App, *, deps: Deps) -> None:
    workspace = deps.settings.slack.team_id
    if workspace is None:
        return

    @app.middleware
    def only_our_workspace(
        body: dict[str, Any], context: BoltContext, next: Callable[[], Any]
    ) -> Any:
        # The acting person's workspace: a click or form names it in `user.team_id`; for
        # events and commands Bolt derives actor_team_id (Slack Connect: `user_team`).
        user = body.get("user")
        user_team = user.get("team_id") if isinstance(user, dict) else None
        actor_team = user_team or context.actor_team_id or context.team_id
        if actor_team is None or actor_team == workspace:
            return next()
        invocation = from_command(body) if "command" in body else from_interaction(body)
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            invocation = replace(invocation, actor=str(event.get("user") or ""))
        env = CommandEnv(invocation, deps)
        audit(
            env,
            "request",
            Outcome.REFUSED,
            f"from workspace {actor_team}, this bot serves {workspace}",
        )
        if "command" in body:
            answer = {
                "response_type": "ephemeral",
                "text": "hotfix-bot only acts for members of its own workspace.",
            }
            return BoltResponse(
                status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
            )
        return BoltResponse(status=200, body="")
