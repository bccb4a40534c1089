"""The slash command: parse inside the ack window, run slow work on the worker."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers.core.context import CommandEnv, Deps
from handlers.core.router import Prepared, Router
from handlers.slack.delivery import open_modal, render_safely
from handlers.slack.payloads import from_command
from handlers.slack.recovery import COMMAND, Replayer, journal_request, submit_journaled


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
        # Journaled before the ack: once acknowledged, Slack will not send it again.
        key = journal_request(deps, kind=COMMAND, payload=command)
        ack(text=f"Working on `{router.prog} {prepared.action}`…", response_type="ephemeral")
        _run_on_worker(deps, router, prepared, env, respond, key)


def command_replayer(deps: Deps, router: Router) -> Replayer:
    """Runs a journaled slash command again after a restart, answering on its response_url."""

    def replay(command: dict[str, Any], respond: Respond | None) -> None:
        env = CommandEnv(from_command(command), deps)
        prepared = router.prepare(env.invocation.text, env)
        _run_on_worker(deps, router, prepared, env, respond, command.get("trigger_id"))

    return replay


def _run_on_worker(
    deps: Deps,
    router: Router,
    prepared: Prepared,
    env: CommandEnv,
    respond: Respond | None,
    key: str | None,
) -> None:
    def run() -> None:
        reply = router.execute(prepared, env)
        if respond is not None:
            respond(**render_safely(deps, reply).as_response(public=reply.public))

    submit_journaled(deps, key, run, describe=f"{router.prog} {prepared.action}")
