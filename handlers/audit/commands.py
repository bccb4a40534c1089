"""/hotfix audit: who did what, and who was refused."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from typing import Any

import click

from handlers.core.commands import CommandList, chat_command
from handlers.core.context import CommandEnv
from handlers.core.params import SLACK_USER
from handlers.core.replies import Reply
from services.access import TERMINAL_PREFIXES
from services.audit import Outcome, page

# How a console or CLI user appears in the log: "console:<login>" (bot.console).
_TERMINAL_ACTOR = re.compile(rf"(?:{'|'.join(TERMINAL_PREFIXES)})[A-Za-z0-9._-]{{1,64}}")
_LOGIN = re.compile(r"@?([A-Za-z0-9._-]{1,64})")
# At most 45 entries: with its header and the paging hint a Slack message stays within
# 50 blocks. Older entries are one `--before` away.
MAX_LIMIT = 45
DEFAULT_LIMIT = 15


COMMANDS = CommandList()


class AuditActor(click.ParamType[str, Any]):
    """A Slack user (mention or id) or a console user: `alice`, `@alice`, `console:alice`."""

    name = "@user|name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if _TERMINAL_ACTOR.fullmatch(text):
            return text
        try:
            return str(SLACK_USER.convert(text, param, ctx))
        except click.BadParameter:
            pass
        login = _LOGIN.fullmatch(text)
        if login:
            # A bare name is a console user: Slack people are named by mention or id.
            return f"{TERMINAL_PREFIXES[0]}{login.group(1)}"
        self.fail(
            f"{text[:80]!r} is not a user. Mention a Slack user (type @ and pick the person),"
            " give their id (U…), or a console user's name (alice or console:NAME).",
            param,
            ctx,
        )


class Before(click.ParamType[int | datetime, Any]):
    """An entry number (`123` or `#123`, as shown) or a time (`2026-03-14 09:30`)."""

    name = "#N|time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | datetime:
        if isinstance(value, int | datetime):
            return value
        text = str(value).strip()
        if re.fullmatch(r"#?[0-9]{1,18}", text):
            return int(text.lstrip("#"))
        try:
            return datetime.fromisoformat(text)  # naive: the team's zone, applied below
        except ValueError:
            self.fail(
                f"{text[:80]!r} is neither an entry number (#123, as listed) nor a time"
                " (2026-03-14 09:30 in the team's zone, or ISO 8601 with an offset).",
                param,
                ctx,
            )


@chat_command(
    COMMANDS,
    "audit",
    example="/hotfix audit --user @alice --outcome=refused --limit 20",
    short_help="Show recent commands and clicks, with who and how they ended.",
    on_worker=False,
)
@click.option(
    "--user",
    "user",
    type=AuditActor(),
    help="Only this person's actions: @mention, U… id, or a console user's name.",
)
@click.option(
    "--outcome",
    type=click.Choice([o.value for o in Outcome], case_sensitive=False),
    help="Only actions that ended this way.",
)
@click.option(
    "--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT, show_default=True
)
@click.option(
    "--before",
    type=Before(),
    help="Older entries only: before entry #N, or before a time (team's zone).",
)
def audit_command(
    env: CommandEnv,
    user: str | None,
    outcome: str | None,
    limit: int,
    before: int | datetime | None,
) -> Reply:
    """Show the most recent audited commands and clicks, newest first."""
    at = None
    if isinstance(before, datetime):
        at = before if before.tzinfo else before.replace(tzinfo=env.deps.settings.zone)
    found = page(
        env.deps.store,
        actor=user,
        outcome=outcome,
        limit=limit,
        before_id=before if isinstance(before, int) else None,
        before_at=at,
    )
    older = None
    if found.older_than is not None:
        words = ["audit"]
        words += ["--user", user] if user else []
        words += ["--outcome", outcome] if outcome else []
        words += ["--limit", str(limit)] if limit != DEFAULT_LIMIT else []
        older = _as_typed(env, [*words, "--before", str(found.older_than)])
    return Reply(
        "audit",
        {
            "entries": found.entries,
            "user": user,
            "outcome": outcome,
            "zone": env.deps.settings.timezone,
            "older": older,
        },
    )


def _as_typed(env: CommandEnv, words: list[str]) -> str:
    """The command as the asker types it here: in Slack, the console, or a terminal."""
    line = shlex.join(words)
    source = env.invocation.source
    if source == "slack":
        return f"{env.deps.settings.slack.command} {line}"
    return f"hotfix-bot {line}" if source == "cli" else line
