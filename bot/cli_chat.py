"""The chat command tree mounted under `hotfix-bot`: `hotfix-bot audit --limit 5` runs the
same command as `/hotfix audit --limit 5` in Slack, so help texts exist once."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

import click

from bot.cli_context import actor_of, deps_of, fail, router_of
from handlers.console.text import plain
from handlers.features import build_registry


@functools.cache
def _chat_commands() -> Mapping[str, click.Command]:
    """The chat command tree's top level, mounted under `hotfix-bot`."""
    return build_registry().root.commands


class BotCli(click.Group):
    """Our own subcommands, then the chat commands as a fallback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in sorted(_chat_commands()) if name not in own]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _chat_commands():
            return command
        return _chat_passthrough(cmd_name, _chat_commands()[cmd_name])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # A typo gets what the console answers (did you mean, the list), not "No such command".
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from handlers.core.router import unknown_command

            message = unknown_command(name, self.list_commands(ctx), where=ctx.command_path)
            fail(f"{plain(message)}\nRun {ctx.command_path} --help for what each does.")
        return super().resolve_command(ctx, args)


def _chat_passthrough(name: str, chat: click.Command) -> click.Command:
    @click.command(
        name,
        help=chat.help,
        short_help=chat.get_short_help_str(limit=60),
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_obj
    def run(obj: dict[str, Any], args: tuple[str, ...]) -> None:
        from bot.console import run_cli_reply
        from bot.follow import after_request, followed_kind, split_no_wait

        words, user = _take_user([name, *args], chat)
        actor = actor_of(user or obj.get("user"))
        # A deployment or rollback request follows its progress here (see bot/follow.py).
        asked = followed_kind(name, tuple(words[1:]))
        wait = True
        if asked is not None:
            kept, wait = split_no_wait(tuple(words[1:]))
            words = [name, *kept]
        deps = deps_of(obj)
        router = router_of(deps)
        code, text, reply = run_cli_reply(deps, router, words, actor=actor)
        click.echo(text)
        if asked is not None and code == 0:
            code = after_request(deps, reply, asked=asked, wait=wait, echo=click.echo)
        sys.exit(code)

    return run


def _take_user(words: list[str], chat: click.Command) -> tuple[list[str], str | None]:
    """`hotfix-bot note "…" --user bob`: run as bob, unless the command has a --user of its own."""
    command, rest = chat, words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    if any("--user" in param.opts for param in command.params):
        return words, None  # e.g. audit --user: its filter, not who runs it
    user, kept, given = None, [], iter(words)
    for word in given:
        if word == "--user":
            user = next(given, "")
        elif word.startswith("--user="):
            user = word.removeprefix("--user=")
        else:
            kept.append(word)
    return kept, user
