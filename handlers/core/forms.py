"""Form (modal) submissions, independent of Slack's payload shapes.

A submission is validated at once (Slack shows errors next to the fields only
in the acknowledgement) and then run on the worker like any command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handlers.core.context import CommandEnv
from handlers.core.form_limits import TITLE, too_long
from handlers.core.guard import run_guarded
from handlers.core.people import mention_people
from handlers.core.replies import Reply
from handlers.incident import publish
from handlers.incident.commands import run_declaration, summary, unpublished
from services.chat import Chat
from services.comms.customer import affected_services, public_words
from services.errors import UserFacingError
from services.incidents import lifecycle, records
from services.incidents.declare import Declaration
from services.incidents.model import Severity, Status, parse_incident_id
from services.metrics import declare_actions

Values = dict[str, Any]


@dataclass(frozen=True)
class ViewSpec:
    validate: Callable[[Values], dict[str, str]]
    run: Callable[[CommandEnv, Values, str], Reply]
    # The incident whose war room gets the answer (None: the channel the form came from).
    incident_of: Callable[[str], str | None]
    # Fields whose plain @names must be people (Slack sends form text as typed).
    people_fields: tuple[str, ...] = ()


def parse_state(state: dict[str, Any]) -> Values:
    """Slack's view.state.values as {block_id: value}."""
    values: Values = {}
    for block_id, actions in (state.get("values") or {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind in ("static_select", "radio_buttons"):
                option = element.get("selected_option") or {}
                values[block_id] = option.get("value")
            elif kind == "users_select":
                values[block_id] = element.get("selected_user")
            elif kind in ("checkboxes", "multi_static_select"):
                values[block_id] = [o.get("value") for o in element.get("selected_options") or []]
            else:
                values[block_id] = element.get("value")
    return values


def _text(values: Values, key: str) -> str:
    return str(values.get(key) or "").strip()


def _public(values: Values) -> str | None:
    """The form's "Public message": None when left empty (an optional field)."""
    return public_words(_text(values, "public") or None, flag="The public message")


def _public_errors(values: Values) -> dict[str, str]:
    if "public" in too_long(values):
        return {}  # already said, with the count
    try:
        _public(values)
    except UserFacingError as exc:
        return {"public": f"{exc.message} {exc.hint or ''}".strip()}
    return {}


def _validate_declare(values: Values) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not _text(values, "title"):
        errors["title"] = "Give the incident a title."
    if values.get("severity") not in {s.value for s in Severity}:
        errors["severity"] = "Pick a severity."
    return errors


def _run_declare(env: CommandEnv, values: Values, metadata: str) -> Reply:
    return run_declaration(
        env,
        Declaration(
            title=_text(values, "title")[:TITLE],
            severity=Severity(values["severity"]),
            impact=_text(values, "impact") or "medium",
            description=_text(values, "description"),
            commander=values.get("commander") or None,
            declared_by=env.invocation.actor,
            origin_channel_id=metadata or None,
            request_key=env.invocation.trigger_id,
            # Picked from the configured services; checked again (the config may have
            # changed since the form was opened).
            services=affected_services(
                values.get("services") or [], env.deps.settings.services, flag="Service"
            ),
            public=_public(values),
        ),
    )


def _validate_update(values: Values) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not _text(values, "message"):
        return {"message": "Say what changed."} | errors
    return errors


def _run_update(env: CommandEnv, values: Values, metadata: str) -> Reply:
    incident = records.get(env.deps.store, parse_incident_id(metadata))
    status = values.get("status")
    result = lifecycle.post_update(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        status=Status(status) if status else None,
        message=_text(values, "message"),
        eta=_text(values, "eta") or None,
        broadcast="broadcast" in (values.get("broadcast") or []),
        request_key=env.invocation.trigger_id,
        public=(public := _public(values)),
    )
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"Update posted for {incident.id}.", problems)


def _validate_resolve(values: Values) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not _text(values, "root_cause"):
        return {
            "root_cause": "Record the root cause (it can be refined in the postmortem)."
        } | errors
    return errors


def _run_resolve(env: CommandEnv, values: Values, metadata: str) -> Reply:
    incident = records.get(env.deps.store, parse_incident_id(metadata))
    result = lifecycle.resolve(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        root_cause=_text(values, "root_cause"),
        action_items=lifecycle.parse_action_items(
            mention_people(env.deps.chat, _text(values, "action_items"))
        ),
        resolution=_text(values, "resolution"),
        public=(public := _public(values)),
    )
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"{incident.id} resolved.", problems)


VIEWS: dict[str, ViewSpec] = {
    "hotfix_declare": ViewSpec(_validate_declare, _run_declare, lambda metadata: None),
    "hotfix_update": ViewSpec(_validate_update, _run_update, lambda metadata: metadata),
    "hotfix_resolve": ViewSpec(
        _validate_resolve, _run_resolve, lambda metadata: metadata, people_fields=("action_items",)
    ),
    publish.CALLBACK_ID: ViewSpec(publish.validate, publish.run, lambda metadata: metadata),
}
declare_actions(f"form:{callback_id}" for callback_id in VIEWS)


def submit(env: CommandEnv, callback_id: str, values: Values, metadata: str) -> Reply:
    """Run a validated submission (from Slack or the console), audited, failures as replies."""
    spec = VIEWS[callback_id]
    return run_guarded(
        env,
        action=f"form:{callback_id}",
        detail=json.dumps(values, default=str)[:500],
        what="that form",
        run=lambda: spec.run(env, values, metadata),
    )


def check(callback_id: str, values: Values, chat: Chat) -> dict[str, str]:
    """The errors to show next to the fields: the form's own rules, then unknown @names."""
    spec = VIEWS[callback_id]
    errors = spec.validate(values)
    for block_id in spec.people_fields:
        if block_id in errors:
            continue
        try:
            mention_people(chat, _text(values, block_id))
        except UserFacingError as exc:
            errors[block_id] = f"{exc.message} {exc.hint or ''}".strip()
    return errors
