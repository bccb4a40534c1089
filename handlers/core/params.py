"""Parameter types: Slack's encodings of users and channels, severities, the affected
services and the words for customers.

With `should_escape: true` in the manifest, Slack sends a mention as
`<@U123ABC|alice>` and a channel as `<#C123ABC|general>`. These types accept
those and bare ids; a plain `@alice` (typed in the console, or text Slack did
not turn into a mention) is looked up by name (handlers/core/people.py), and a name
nobody goes by is refused with a hint.
"""

from __future__ import annotations

import re
from typing import Any

import click

from handlers.core.context import CommandEnv
from handlers.core.people import find_person
from services.comms.customer import affected_services, public_words
from services.errors import UserFacingError
from services.incidents.model import Severity, parse_severity

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CHANNEL_MENTION = re.compile(r"<#([CGD][A-Z0-9]{2,})(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


class SlackUser(click.ParamType[str, Any]):
    name = "@user"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        match = _USER_MENTION.fullmatch(text)
        if match:
            return match.group(1)
        if _USER_ID.fullmatch(text):
            return text
        env = ctx.find_object(CommandEnv) if ctx else None
        if env is not None and text.startswith("@"):
            # A plain @name: Slack did not make it a mention, or this is the console.
            try:
                return find_person(env.deps.chat, text)
            except UserFacingError as exc:
                self.fail(f"{exc.message} {exc.hint or ''}".strip(), param, ctx)
        self.fail(
            f"{text[:80]!r} is not a Slack user. Mention them: type @ and pick the person.",
            param,
            ctx,
        )


class SlackChannel(click.ParamType[str, Any]):
    name = "#channel"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        match = _CHANNEL_MENTION.fullmatch(text)
        if match:
            return match.group(1)
        if _CHANNEL_ID.fullmatch(text):
            return text
        self.fail(
            f"{text!r} is not a Slack channel. Type # and pick the channel from the list.",
            param,
            ctx,
        )


SLACK_USER = SlackUser()
SLACK_CHANNEL = SlackChannel()


class SeverityParam(click.ParamType[Severity, Any]):
    """One severity vocabulary everywhere: `sev0`…`sev3` (any case) and the runbooks' words
    `critical`, `high`, `medium`, `low` (services.incidents.model.SEVERITY_WORDS)."""

    name = "severity"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return parse_severity(str(value))
        except UserFacingError as exc:
            self.fail(f"{exc.message} {exc.hint}", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[sev0|sev1|sev2|sev3|critical|high|medium|low]"


SEVERITY = SeverityParam()


class ServiceParam(click.ParamType[str, Any]):
    """A service named in the config's `services:` (`--service payments`, repeatable)."""

    name = "service"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        env = ctx.find_object(CommandEnv) if ctx else None
        configured = env.deps.settings.services if env is not None else {}
        try:
            return affected_services([str(value)], configured)[0]
        except UserFacingError as exc:
            self.fail(f"{exc.message} {exc.hint or ''}".strip(), param, ctx)


class PublicText(click.ParamType[str, Any]):
    """Words for customers (`--public="…"`): the status page and customer email."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            words = public_words(str(value))
        except UserFacingError as exc:
            self.fail(f"{exc.message} {exc.hint or ''}".strip(), param, ctx)
        assert words is not None
        return words


SERVICE = ServiceParam()
PUBLIC = PublicText()
PUBLIC_HELP = (
    "Words for customers: the status page and customer email get these and no other"
    " internal detail."
)
