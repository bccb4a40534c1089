"""The incident forms: declare, post an update, resolve (Slack modals or console prompts)."""

from __future__ import annotations

from handlers.core.context import CommandEnv
from handlers.core.form_limits import TITLE, too_long
from handlers.core.forms import Form, FormValues, field_text
from handlers.core.people import mention_people
from handlers.core.replies import Reply
from handlers.incident.commands import run_declaration, summary, unpublished
from services.comms.customer import affected_services, public_words
from services.errors import UserFacingError
from services.incidents import lifecycle, records
from services.incidents.declare import Declaration
from services.incidents.model import Severity, Status, parse_incident_id


def _public(values: FormValues) -> str | None:
    """The form's "Public message": None when left empty (an optional field)."""
    return public_words(field_text(values, "public") or None, flag="The public message")


def _public_errors(values: FormValues) -> dict[str, str]:
    if "public" in too_long(values):
        return {}  # already said, with the count
    try:
        _public(values)
    except UserFacingError as exc:
        return {"public": f"{exc.message} {exc.hint or ''}".strip()}
    return {}


def _validate_declare(values: FormValues) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not field_text(values, "title"):
        errors["title"] = "Give the incident a title."
    if values.get("severity") not in {s.value for s in Severity}:
        errors["severity"] = "Pick a severity."
    return errors


def _run_declare(env: CommandEnv, values: FormValues, metadata: str) -> Reply:
    return run_declaration(
        env,
        Declaration(
            title=field_text(values, "title")[:TITLE],
            severity=Severity(values["severity"]),
            impact=field_text(values, "impact") or "medium",
            description=field_text(values, "description"),
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


def _validate_update(values: FormValues) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not field_text(values, "message"):
        return {"message": "Say what changed."} | errors
    return errors


def _run_update(env: CommandEnv, values: FormValues, metadata: str) -> Reply:
    incident = records.get(env.deps.store, parse_incident_id(metadata))
    status = values.get("status")
    result = lifecycle.post_update(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        status=Status(status) if status else None,
        message=field_text(values, "message"),
        eta=field_text(values, "eta") or None,
        broadcast="broadcast" in (values.get("broadcast") or []),
        request_key=env.invocation.trigger_id,
        public=(public := _public(values)),
    )
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"Update posted for {incident.id}.", problems)


def _validate_resolve(values: FormValues) -> dict[str, str]:
    errors = too_long(values) | _public_errors(values)
    if not field_text(values, "root_cause"):
        return {
            "root_cause": "Record the root cause (it can be refined in the postmortem)."
        } | errors
    return errors


def _run_resolve(env: CommandEnv, values: FormValues, metadata: str) -> Reply:
    incident = records.get(env.deps.store, parse_incident_id(metadata))
    result = lifecycle.resolve(
        incident,
        deps=env.war_room,
        actor=env.invocation.actor,
        root_cause=field_text(values, "root_cause"),
        action_items=lifecycle.parse_action_items(
            mention_people(env.deps.chat, field_text(values, "action_items"))
        ),
        resolution=field_text(values, "resolution"),
        public=(public := _public(values)),
    )
    problems = result.problems + unpublished(env, public)
    return summary(env, incident.id, f"{incident.id} resolved.", problems)


FORMS = (
    Form("hotfix_declare", _validate_declare, _run_declare, incident_of=lambda metadata: None),
    Form("hotfix_update", _validate_update, _run_update, incident_of=lambda metadata: metadata),
    Form(
        "hotfix_resolve",
        _validate_resolve,
        _run_resolve,
        incident_of=lambda metadata: metadata,
        people_fields=("action_items",),
    ),
)
