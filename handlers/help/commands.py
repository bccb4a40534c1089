"""/hotfix help [command…]: every command with its flags and an example."""

from __future__ import annotations

import functools

import click

from handlers.core.buttons import Button, ButtonPress
from handlers.core.commands import ChatCommand, chat_command
from handlers.core.context import CommandEnv
from handlers.core.replies import Reply
from handlers.core.router import Router


def help_command(root: click.Group) -> ChatCommand:
    """The help command of the tree `root`."""

    @chat_command(
        root,
        "help",
        example="/hotfix help incident create",
        short_help="List every command, or explain one.",
        on_worker=False,
    )
    @click.argument("topic", nargs=-1)
    def show_help(env: CommandEnv, topic: tuple[str, ...]) -> Reply:
        """List every command with its flags and an example, or explain one command."""
        return help_for(root, " ".join(topic), env)

    return show_help


def help_button(root: click.Group) -> Button:
    """The "Help for …" button under a usage error."""

    def show_help(env: CommandEnv, press: ButtonPress) -> Reply:
        return help_for(root, press.value, env)

    return Button("hotfix_help", show_help)


def help_for(root: click.Group, path: str, env: CommandEnv) -> Reply:
    return _router(root, env.deps.settings.slack.command).help_for(path, env)


@functools.cache
def _router(root: click.Group, prog: str) -> Router:
    """One router per tree and command name, so help texts are built once per process."""
    return Router(root, prog=prog)
