"""Form submissions: validate inside the ack, run on the worker, answer the submitter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers.core.context import CommandEnv, Deps
from handlers.core.forms import Form, Forms, parse_state
from handlers.slack.delivery import tell_user
from handlers.slack.payloads import from_interaction
from handlers.slack.recovery import FORM, Replayer, journal_request, submit_journaled
from services.incidents import records


def register(app: App, *, deps: Deps, forms: Forms) -> None:
    for form in forms:
        app.view(form.callback_id)(_submission_listener(deps, forms, form))


def _submission_listener(deps: Deps, forms: Forms, form: Form) -> Callable[..., None]:
    # Bolt passes listener arguments by name, so the form's identity is closed over here.
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        values = parse_state(view.get("state") or {})
        errors = forms.check(form.callback_id, values, deps.chat)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # Journaled before the ack: once acknowledged, Slack will not send it again.
        key = journal_request(deps, kind=FORM, payload=body)
        ack()
        _run_on_worker(deps, forms, client, body, key)

    return on_submit


def form_replayer(deps: Deps, forms: Forms, client: WebClient) -> Replayer:
    """Runs a journaled form submission again after a restart."""

    def replay(body: dict[str, Any], respond: Respond | None) -> None:
        _run_on_worker(deps, forms, client, body, body.get("trigger_id"))

    return replay


def _run_on_worker(
    deps: Deps, forms: Forms, client: WebClient, body: dict[str, Any], key: str | None
) -> None:
    view = body.get("view") or {}
    callback_id = str(view.get("callback_id") or "")
    values = parse_state(view.get("state") or {})
    metadata = str(view.get("private_metadata") or "")
    env = CommandEnv(from_interaction(body), deps)

    def run() -> None:
        reply = forms.submit(env, callback_id, values, metadata)
        incident_id = forms[callback_id].incident_of(metadata)
        channel = metadata or None
        if incident_id:
            incident = records.by_id(deps.store, incident_id)
            channel = incident.channel_id if incident else None
        tell_user(deps, client, user_id=env.invocation.actor, channel_id=channel, reply=reply)

    submit_journaled(deps, key, run, describe=f"form {callback_id}")
