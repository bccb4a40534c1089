"""Getting a Reply to the person in Slack: a form to open, or a message to show."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.core.context import Deps
from handlers.core.rendering import RenderedMessage
from handlers.core.replies import Reply, error_reply

log = logging.getLogger(__name__)


def render_safely(deps: Deps, reply: Reply) -> RenderedMessage:
    """A reply as a message; a broken template still produces a readable answer."""
    try:
        return deps.renderer.render(reply)
    except Exception:
        log.exception("rendering template %s failed", reply.template)
        fallback = error_reply(
            "The bot could not format its answer (a message template is broken).",
            hint="Run `hotfix-bot check-config` to find the template and line.",
        )
        return RenderedMessage(text=str(fallback.data["message"]), blocks=[])


def open_modal(deps: Deps, client: WebClient, trigger_id: str | None, reply: Reply) -> Reply | None:
    """Open the form; returns a reply to show instead when Slack refused to open it."""
    view: dict[str, Any] = deps.renderer.render_data(reply.template, dict(reply.data))
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error")
        log.warning("views.open failed: %s", error)
        return error_reply(
            f"Slack did not open the form (`{error}`).",
            hint="Forms must open within 3 seconds; try again, or give the values as flags (--help).",
        )
    return None


def tell_user(
    deps: Deps, client: WebClient, *, user_id: str, channel_id: str | None, reply: Reply
) -> None:
    """An answer with no response_url (after a form): ephemeral in the channel, else a DM."""
    message = render_safely(deps, reply)
    if channel_id:
        try:
            client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=message.text, blocks=message.blocks
            )
            return
        except SlackApiError as exc:
            log.info(
                "ephemeral answer in %s failed (%s); sending a DM",
                channel_id,
                exc.response.get("error"),
            )
    try:
        opened = client.conversations_open(users=user_id)
        client.chat_postMessage(
            channel=opened["channel"]["id"], text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:
        log.warning("could not answer %s: %s", user_id, exc.response.get("error"))
