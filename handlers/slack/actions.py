"""Button clicks: acknowledge at once, run the action on the worker, answer in place."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from handlers.actions import run_action
from handlers.context import CommandEnv, Deps
from handlers.slack.commands import render_safely
from handlers.slack.payloads import from_interaction


def register(app: App, *, deps: Deps) -> None:
    @app.action(re.compile(r"^hotfix_"))
    def on_action(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        env = CommandEnv(from_interaction(body), deps)
        action_id = str(action.get("action_id", ""))
        value = str(action.get("value") or action.get("selected_user") or "")

        def run() -> None:
            reply = run_action(action_id, value, env)
            message = render_safely(deps, reply)
            respond(replace_original=False, **message.as_response(public=reply.public))

        deps.worker.submit(run, describe=f"click {action_id}")
