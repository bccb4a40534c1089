"""Button clicks: acknowledge at once; open forms inline, run the rest on the worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers.core.buttons import ButtonPress, Buttons
from handlers.core.context import CommandEnv, Deps
from handlers.core.replies import Reply
from handlers.slack.delivery import open_modal, render_safely, tell_user
from handlers.slack.payloads import from_interaction
from handlers.slack.recovery import CLICK, Replayer, journal_request, submit_journaled


def press_of(body: dict[str, Any], action: dict[str, Any]) -> ButtonPress:
    selected: list[str] = []
    if action.get("selected_user"):
        selected = [str(action["selected_user"])]
    elif "selected_options" in action:
        selected = [str(o.get("value")) for o in action.get("selected_options") or []]
    elif action.get("selected_option"):
        selected = [str(action["selected_option"].get("value"))]
    message = body.get("message") or {}
    return ButtonPress(
        value=str(action.get("value") or ""),
        selected=tuple(selected),
        block_id=str(action.get("block_id") or ""),
        message_ts=message.get("ts"),
    )


def register(app: App, *, deps: Deps, buttons: Buttons) -> None:
    @app.action(re.compile(r"\Ahotfix_"))
    def on_action(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        button = buttons.find(str(action.get("action_id", "")))
        if button is not None and button.inline:
            ack()
            _click_job(deps, buttons, client, body, action, respond)()
            return
        # Journaled before the ack: once acknowledged, Slack will not send it again.
        key = journal_request(deps, kind=CLICK, payload={**body, "clicked": action})
        ack()
        job = _click_job(deps, buttons, client, body, action, respond)
        submit_journaled(deps, key, job, describe=f"click {action.get('action_id')}")


def click_replayer(deps: Deps, buttons: Buttons, client: WebClient) -> Replayer:
    """Runs a journaled click again after a restart."""

    def replay(body: dict[str, Any], respond: Respond | None) -> None:
        action = body.get("clicked") or {}
        job = _click_job(deps, buttons, client, body, action, respond)
        submit_journaled(
            deps, body.get("trigger_id"), job, describe=f"click {action.get('action_id')}"
        )

    return replay


def _click_job(
    deps: Deps,
    buttons: Buttons,
    client: WebClient,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond | None,
) -> Callable[[], None]:
    env = CommandEnv(from_interaction(body), deps)
    action_id = str(action.get("action_id", ""))
    press = press_of(body, action)

    def answer(reply: Reply) -> None:
        if reply.modal:
            problem = open_modal(deps, client, env.invocation.trigger_id, reply)
            if problem is None:
                return
            reply = problem
        if respond is not None and body.get("response_url"):
            respond(
                replace_original=False,
                **render_safely(deps, reply).as_response(public=reply.public),
            )
        else:  # clicks in the App Home or a form have no response_url
            tell_user(deps, client, user_id=env.invocation.actor, channel_id=None, reply=reply)

    return lambda: answer(buttons.press(action_id, press, env))
