"""/hotfix audit: who did what, and who was refused."""

from __future__ import annotations

import click

from handlers.commands.registry import chat_command
from handlers.context import CommandEnv
from handlers.params import SLACK_USER
from handlers.replies import Reply
from services.audit import Outcome, search


def _root() -> click.Group:
    from handlers.commands import ROOT

    return ROOT


@chat_command(
    _root(),
    "audit",
    example="/hotfix audit --user @alice --outcome=refused --limit 20",
    short_help="Show recent commands and clicks, with who and how they ended.",
    on_worker=False,
)
@click.option("--user", "user", type=SLACK_USER, help="Only this person's actions.")
@click.option(
    "--outcome",
    type=click.Choice([o.value for o in Outcome], case_sensitive=False),
    help="Only actions that ended this way.",
)
# At most 45 entries: with its header a Slack message must stay within 50 blocks.
@click.option("--limit", type=click.IntRange(1, 45), default=15, show_default=True)
def audit_command(env: CommandEnv, user: str | None, outcome: str | None, limit: int) -> Reply:
    """Show the most recent audited commands and clicks, newest first."""
    rows = search(env.deps.store, actor=user, outcome=outcome, limit=limit)
    return Reply(
        "audit",
        {"entries": rows, "user": user, "outcome": outcome, "zone": env.deps.settings.timezone},
    )
