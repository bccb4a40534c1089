"""The one command tree: slash command, console and terminal all parse with it.

Commands are click commands, so flags, types, choices, defaults and help
texts are declared once. A command's callback receives the CommandEnv and
its parsed options and returns a Reply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from handlers.core.context import CommandEnv
from handlers.core.replies import Reply

CommandFn = Callable[..., Reply]
F = TypeVar("F", bound=CommandFn)


class HelpRequested(Exception):
    """Raised by --help while parsing; carries the context whose help to show."""

    def __init__(self, ctx: click.Context) -> None:
        super().__init__(ctx.command_path)
        self.ctx = ctx


def _raise_help(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        raise HelpRequested(ctx)


def help_option() -> click.Option:
    return click.Option(
        ["--help", "-h"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_raise_help,
        help="Show this help.",
    )


CONTEXT_SETTINGS: dict[str, Any] = {"max_content_width": 100, "terminal_width": 100}


class ChatCommand(click.Command):
    """A leaf command with the extras chat needs: an example and where it runs."""

    def __init__(
        self,
        *args: Any,
        example: str,
        on_worker: bool | Callable[[click.Context], bool] = True,
        raw_text: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("add_help_option", False)
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.params.append(help_option())
        self.example = example
        # Slow commands (Slack, git, Kubernetes) run on the bot's worker after the ack;
        # a callable decides from the parsed options (a form opens at once, a flow waits).
        self.on_worker = on_worker
        # The name of a parameter that takes the rest of the line verbatim (free text).
        self.raw_text = raw_text


class ChatGroup(click.Group):
    """A group of commands. A group may have a default command, run when the words after
    the group's name are options rather than a subcommand: `deploy --target=production`
    runs the default, `deploy list` the subcommand. The default's path is the group's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("add_help_option", False)
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.params.append(help_option())
        self.default: ChatCommand | None = None

    def runs_default(self, first_word: str | None) -> bool:
        """Whether the words starting with `first_word` are for the default command."""
        if self.default is None:
            return False
        return first_word is None or first_word.startswith("-")


class CommandList:
    """The top-level commands a module defines, for its feature's `register()` to put in the
    tree: a module adds nothing to a tree it does not own."""

    def __init__(self) -> None:
        self.commands: list[click.Command] = []

    def add_command(self, command: click.Command) -> None:
        self.commands.append(command)

    def __iter__(self) -> Iterator[click.Command]:
        return iter(self.commands)


def chat_command(
    group: click.Group | CommandList,
    name: str,
    *,
    example: str,
    short_help: str | None = None,
    on_worker: bool | Callable[[click.Context], bool] = True,
    raw_text: str | None = None,
) -> Callable[[F], ChatCommand]:
    """Make `fn(env, **options) -> Reply` the command `name` in `group`.

    When `group` is a ChatGroup named `name`, the command becomes the group's default."""

    def decorator(fn: F) -> ChatCommand:
        command = click.command(
            name,
            cls=ChatCommand,
            example=example,
            on_worker=on_worker,
            raw_text=raw_text,
            short_help=short_help,
        )(click.pass_obj(_expect_env(fn)))
        if isinstance(group, ChatGroup) and group.name == name:
            group.default = command
        else:
            group.add_command(command)
        return command

    return decorator


def _expect_env(fn: CommandFn) -> CommandFn:
    # functools.wraps also carries over the options click's decorators attached to fn.
    @functools.wraps(fn)
    def callback(env: Any, /, **options: Any) -> Reply:
        if not isinstance(env, CommandEnv):
            raise TypeError(
                "chat commands run through handlers.core.router, which provides a CommandEnv"
            )
        return fn(env, **options)

    return callback


def leaf_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], ChatCommand]]:
    """Every leaf command under `group` with its path, in a stable order."""
    found: list[tuple[tuple[str, ...], ChatCommand]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, ChatGroup) and command.default is not None:
            found.append(((*prefix, name), command.default))
        if isinstance(command, click.Group):
            found.extend(leaf_commands(command, (*prefix, name)))
        elif isinstance(command, ChatCommand):
            found.append(((*prefix, name), command))
    return found
