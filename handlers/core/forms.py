"""Form (modal) submissions, independent of Slack's payload shapes.

A submission is validated at once (Slack shows errors next to the fields only
in the acknowledgement) and then run on the worker like any command. Each feature
lists its forms and its `register()` adds them to the registry (handlers.features).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from handlers.core.context import CommandEnv
from handlers.core.guard import run_guarded
from handlers.core.people import mention_people
from handlers.core.replies import Reply
from services.chat import Chat
from services.errors import UserFacingError
from services.metrics import declare_actions

FormValues = dict[str, Any]


@dataclass(frozen=True)
class Form:
    callback_id: str
    validate: Callable[[FormValues], dict[str, str]]
    run: Callable[[CommandEnv, FormValues, str], Reply]
    # The incident whose war room gets the answer (None: the channel the form came from).
    incident_of: Callable[[str], str | None]
    # Fields whose plain @names must be people (Slack sends form text as typed).
    people_fields: tuple[str, ...] = ()


def parse_state(state: dict[str, Any]) -> FormValues:
    """Slack's view.state.values as {block_id: value}."""
    values: FormValues = {}
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


def field_text(values: FormValues, key: str) -> str:
    return str(values.get(key) or "").strip()


class Forms:
    """Every form the bot answers, by callback_id."""

    def __init__(self, forms: Iterable[Form] = ()) -> None:
        self._forms: dict[str, Form] = {}
        self.add(*forms)

    def add(self, *forms: Form) -> None:
        for form in forms:
            if form.callback_id in self._forms:
                raise ValueError(f"form {form.callback_id} registered twice")
            self._forms[form.callback_id] = form
            declare_actions([f"form:{form.callback_id}"])

    def __iter__(self) -> Iterator[Form]:
        return iter(list(self._forms.values()))

    def __contains__(self, callback_id: object) -> bool:
        return callback_id in self._forms

    def __getitem__(self, callback_id: str) -> Form:
        return self._forms[callback_id]

    def submit(self, env: CommandEnv, callback_id: str, values: FormValues, metadata: str) -> Reply:
        """Run a validated submission (from Slack or the console), audited, failures as replies."""
        form = self._forms[callback_id]
        return run_guarded(
            env,
            action=f"form:{callback_id}",
            detail=json.dumps(values, default=str)[:500],
            what="that form",
            run=lambda: form.run(env, values, metadata),
        )

    def check(self, callback_id: str, values: FormValues, chat: Chat) -> dict[str, str]:
        """The errors to show next to the fields: the form's own rules, then unknown @names."""
        form = self._forms[callback_id]
        errors = form.validate(values)
        for block_id in form.people_fields:
            if block_id in errors:
                continue
            try:
                mention_people(chat, field_text(values, block_id))
            except UserFacingError as exc:
                errors[block_id] = f"{exc.message} {exc.hint or ''}".strip()
        return errors
