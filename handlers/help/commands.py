"""/hotfix help [command…]: every command with its flags and an example."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import click

from handlers.core.buttons import Click, action
from handlers.core.commands import chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply

if TYPE_CHECKING:
    from handlers.core.router import Router


def _root() -> click.Group:
    from handlers.features import ROOT

    return ROOT


@chat_command(
    _root(),
    "help",
    example="/hotfix help incident create",
    short_help="List every command, or explain one.",
    on_worker=False,
)
@click.argument("topic", nargs=-1)
def help_command(env: CommandEnv, topic: tuple[str, ...]) -> Reply:
    """List every command with its flags and an example, or explain one command."""
    return help_for(" ".join(topic), env)


def help_for(path: str, env: CommandEnv) -> Reply:
    return _router(env.deps.settings.slack.command).help_for(path, env)


@functools.cache
def _router(prog: str) -> Router:
    """One router per command name, so help texts are built once per process."""
    from handlers.core.router import Router

    return Router(_root(), prog=prog)


@action("hotfix_help")
def help_button(env: CommandEnv, click: Click) -> Reply:
    """The "Help for …" button under a usage error."""
    return help_for(click.value, env)
