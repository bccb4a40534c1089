"""The slash command: parse inside the ack window, run slow work on the worker."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from handlers.context import CommandEnv, Deps
from handlers.rendering import Message
from handlers.replies import Reply, error_reply
from handlers.router import Router
from handlers.slack.payloads import from_command

log = logging.getLogger(__name__)


def render_safely(deps: Deps, reply: Reply) -> Message:
    """A reply as a message; a broken template still produces a readable answer."""
    try:
        return deps.renderer.render(reply)
    except Exception:
        log.exception("rendering template %s failed", reply.template)
        fallback = error_reply(
            "The bot could not format its answer (a message template is broken).",
            hint="Run `hotfix-bot check-config` to find the template and line.",
        )
        return Message(text=str(fallback.data["message"]), blocks=[])


def register(app: App, *, deps: Deps, router: Router) -> None:
    @app.command(deps.settings.slack.command)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        env = CommandEnv(from_command(command), deps)
        prepared = router.prepare(env.invocation.text, env)
        if not prepared.runs_on_worker:
            reply = router.execute(prepared, env)
            ack(**render_safely(deps, reply).as_response(public=reply.public))
            return
        ack(text=f"Working on `{router.prog} {prepared.action}`…", response_type="ephemeral")

        def run() -> None:
            reply = router.execute(prepared, env)
            respond(**render_safely(deps, reply).as_response(public=reply.public))

        deps.worker.submit(run, describe=f"{router.prog} {prepared.action}")
