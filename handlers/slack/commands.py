"""The slash command: parse inside the ack window, run slow work on the worker."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers.context import CommandEnv, Deps
from handlers.router import Router
from handlers.slack.delivery import open_modal, render_safely
from handlers.slack.payloads import from_command


def register(app: App, *, deps: Deps, router: Router) -> None:
    @app.command(deps.settings.slack.command)
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        env = CommandEnv(from_command(command), deps)
        prepared = router.prepare(env.invocation.text, env)
        if not prepared.runs_on_worker:
            reply = router.execute(prepared, env)
            if reply.modal:
                # The trigger id expires 3 s after the command: open the form right here.
                problem = open_modal(deps, client, env.invocation.trigger_id, reply)
                if problem is None:
                    ack()
                    return
                reply = problem
            ack(**render_safely(deps, reply).as_response(public=reply.public))
            return
        ack(text=f"Working on `{router.prog} {prepared.action}`…", response_type="ephemeral")

        def run() -> None:
            reply = router.execute(prepared, env)
            respond(**render_safely(deps, reply).as_response(public=reply.public))

        deps.worker.submit(run, describe=f"{router.prog} {prepared.action}")
