"""From a line of text to a Reply: tokenize, find the command, parse, run, audit.

`prepare` is fast and never touches Slack, git or the cluster: the Slack
listener calls it inside the 3 s acknowledgement window, answers help and
usage errors at once, and hands the parsed command to the worker. `run`
does both steps for the console and the terminal.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from typing import Any

import click

from handlers.core.buttons import Buttons
from handlers.core.commands import ChatCommand, ChatGroup, HelpRequested, leaf_commands
from handlers.core.context import CommandEnv
from handlers.core.forms import Forms
from handlers.core.guard import audit, run_guarded
from handlers.core.replies import Reply
from handlers.core.tokenize import TokenizeError, split_words, tokenize
from services.audit import Outcome
from services.metrics import declare_actions

log = logging.getLogger(__name__)

HELP_TOKENS = ("--help", "-h")
# Text without quotes, escapes or Slack's &-escapes splits on spaces exactly as the
# tokenizer would split it (`incident list`, `help`): skip shlex for it.
_PLAIN = re.compile(r"[A-Za-z0-9 _\-=.,:/@+#]*")


@dataclass(frozen=True)
class Prepared:
    """A parsed command ready to run, or the answer to give instead."""

    action: str  # the command path, e.g. "incident create", for the audit log
    reply: Reply | None = None  # set when the answer is known without running anything
    outcome: Outcome = Outcome.OK
    ctx: click.Context | None = None
    command: ChatCommand | None = None

    @property
    def runs_on_worker(self) -> bool:
        if self.reply is not None or self.command is None or self.ctx is None:
            return False
        on_worker = self.command.on_worker
        return on_worker(self.ctx) if callable(on_worker) else on_worker


class Router:
    """Parses and runs commands in the tree `root`; carries the buttons and forms that
    come with it (handlers.features.build_registry) to the Slack listeners and the console."""

    def __init__(
        self,
        root: click.Group,
        *,
        prog: str = "/hotfix",
        buttons: Buttons | None = None,
        forms: Forms | None = None,
    ) -> None:
        self.root = root
        self.prog = prog
        self.buttons = buttons or Buttons()
        self.forms = forms or Forms()
        self._help_cache: dict[str, Reply] = {}
        declare_actions(f"command:{path}" for path in ("help", *command_paths(root)))

    # -- parsing -----------------------------------------------------------

    def prepare(self, text: str, env: CommandEnv) -> Prepared:
        prepared = self._parse(text, env)
        if prepared.reply is not None:
            self._audit(env, prepared.action, prepared.outcome, prepared.reply)
        return prepared

    def _parse(self, text: str, env: CommandEnv) -> Prepared:
        quote_error: TokenizeError | None = None
        try:
            tokens = text.split() if _PLAIN.fullmatch(text) else tokenize(text)
        except TokenizeError as exc:
            # Free-text commands (a note) may hold a lone apostrophe: find the command
            # by words first and report the quote only if the command parses flags.
            tokens, quote_error = text.split(), exc
        consumed = 0
        if tokens and tokens[0] in (self.prog, self.prog.lstrip("/")):
            tokens, consumed = tokens[1:], 1
        ctx = click.Context(self.root, info_name=self.prog, obj=env)
        group: click.Group = self.root
        path: list[str] = []
        while True:
            if not tokens or tokens[0] in HELP_TOKENS:
                return Prepared(" ".join(path) or "help", reply=self.help_reply(ctx))
            name = tokens[0]
            found = group.get_command(ctx, name)
            if found is None:
                return self._unknown(name, group, ctx)
            tokens, consumed = tokens[1:], consumed + 1
            path.append(name)
            first = tokens[0] if tokens else None
            if (
                isinstance(found, ChatGroup)
                and first not in HELP_TOKENS
                and found.runs_default(first)
            ):
                # `deploy --target=…`: the group's default command, parsed under the group's name.
                assert found.default is not None
                found = found.default
            elif isinstance(found, click.Group):
                ctx = click.Context(found, info_name=name, parent=ctx)
                group = found
                continue
            if not isinstance(found, ChatCommand):
                raise TypeError(f"{name} is not a chat command")
            if quote_error is not None and found.raw_text is None:
                return self._usage(str(quote_error), ctx, action=" ".join(path))
            return self._bind(found, name, tokens, ctx, " ".join(path), text, consumed)

    def _bind(
        self,
        command: ChatCommand,
        name: str,
        tokens: list[str],
        parent: click.Context,
        action: str,
        text: str,
        consumed: int,
    ) -> Prepared:
        args = tokens
        if command.raw_text is not None:
            # Free text (a note) is taken verbatim: apostrophes and dashes are content.
            _, rest = split_words(text, consumed)
            args = (
                list(HELP_TOKENS[:1])
                if rest.strip() in HELP_TOKENS
                else (["--", rest] if rest else [])
            )
        try:
            ctx = command.make_context(name, args, parent=parent)
        except HelpRequested as request:
            return Prepared(action, reply=self.help_reply(request.ctx))
        except click.UsageError as exc:
            return self._usage(exc.format_message(), exc.ctx or parent, action=action)
        return Prepared(action, ctx=ctx, command=command)

    def _unknown(self, name: str, group: click.Group, ctx: click.Context) -> Prepared:
        where = ctx.command_path
        message = unknown_command(name, sorted(group.commands), where=where)
        return self._usage(message, ctx, action=f"{where} {name}".removeprefix(self.prog).strip())

    def _usage(self, message: str, ctx: click.Context | None, *, action: str) -> Prepared:
        data: dict[str, Any] = {"message": message, "usage": None, "example": None, "help_path": ""}
        if ctx is not None:
            data["usage"] = ctx.get_usage().removeprefix("Usage: ")
            data["help_path"] = _path_of(ctx, self.prog)
            if isinstance(ctx.command, ChatCommand):
                data["example"] = ctx.command.example
        data["prog"] = self.prog
        return Prepared(action, reply=Reply("usage_error", data), outcome=Outcome.USAGE_ERROR)

    # -- help --------------------------------------------------------------

    def help_reply(self, ctx: click.Context) -> Reply:
        # The tree does not change while the bot runs: build each help text once.
        # A group and its default command share a path (`deploy`): key by both.
        path = f"{ctx.command_path}:{type(ctx.command).__name__}"
        cached = self._help_cache.get(path)
        if cached is None:
            cached = self._help_cache[path] = self._build_help(ctx)
        return cached

    def _build_help(self, ctx: click.Context) -> Reply:
        command = ctx.command
        if isinstance(command, ChatCommand):
            return Reply(
                "help",
                {"prog": self.prog, "commands": [describe(ctx)], "detailed": True},
                cache_key=f"help:{ctx.command_path}",
            )
        assert isinstance(command, click.Group)
        commands = []
        if isinstance(command, ChatGroup) and command.default is not None:
            default_ctx = click.Context(command.default, info_name=ctx.info_name, parent=ctx.parent)
            commands.append(describe(default_ctx))
        for path, leaf in leaf_commands(command):
            leaf_ctx = click.Context(leaf, info_name=" ".join(path), parent=ctx)
            commands.append(describe(leaf_ctx))
        return Reply(
            "help",
            {
                "prog": self.prog,
                "title": ctx.command_path,
                "summary": command.help or "",
                "commands": commands,
                "detailed": False,
            },
            cache_key=f"help-group:{ctx.command_path}",
        )

    def help_for(self, path: str, env: CommandEnv) -> Reply:
        """Help for a command path such as "incident create" (used by the Help button)."""
        prepared = self._parse(f"{path} --help", env)
        return prepared.reply or self.help_reply(click.Context(self.root, info_name=self.prog))

    # -- running -----------------------------------------------------------

    def execute(self, prepared: Prepared, env: CommandEnv) -> Reply:
        if prepared.reply is not None:
            return prepared.reply
        assert prepared.ctx is not None and prepared.command is not None
        ctx, command = prepared.ctx, prepared.command
        assert command.callback is not None
        callback = command.callback

        def invoke() -> Reply:
            with ctx:
                reply: Reply = ctx.invoke(callback, **ctx.params)
                return reply

        def usage(exc: Exception) -> Reply:
            assert isinstance(exc, click.UsageError)
            reply = self._usage(exc.format_message(), exc.ctx or ctx, action=prepared.action).reply
            assert reply is not None
            return reply

        return run_guarded(
            env,
            action=f"command:{prepared.action}",
            detail=env.invocation.text,
            what=f"`{self.prog} {prepared.action}`",
            run=invoke,
            on_usage_error=usage,
        )

    def run(self, text: str, env: CommandEnv) -> Reply:
        return self.execute(self.prepare(text, env), env)

    def _audit(self, env: CommandEnv, action: str, outcome: Outcome, reply: Reply) -> None:
        detail = env.invocation.text
        if outcome is not Outcome.OK:
            detail = f"{detail} -> {reply.data.get('message', '')}"
        audit(env, f"command:{action}", outcome, detail)


def unknown_command(name: str, known: list[str], *, where: str) -> str:
    """`/hotfix incidnet` is not a command: the closest command, and the list of them all."""
    if name.startswith("-"):
        message = f"`{name}` is an option, but `{where}` needs a command first."
    else:
        message = f"`{where} {name[:80]}` is not a command."
    close = difflib.get_close_matches(name.lower(), known, n=1)
    if close:
        message += f" Did you mean `{where} {close[0]}`?"
    return message + f" Commands: {', '.join(known)}."


def command_paths(group: click.Group) -> set[str]:
    """Every command and group under `group`, as typed: `incident`, `incident create`."""
    return {" ".join(path[:n]) for path, _ in leaf_commands(group) for n in range(1, len(path) + 1)}


def describe(ctx: click.Context) -> dict[str, Any]:
    """A command's help as data, for the help template."""
    command = ctx.command
    options = []
    for param in command.get_params(ctx):
        record_ = param.get_help_record(ctx)
        if record_ is None:
            continue
        flags, text = record_
        options.append({"flags": flags, "help": text, "required": bool(param.required)})
    return {
        "path": ctx.command_path,
        "summary": command.get_short_help_str(limit=90),
        "help": (command.help or "").strip(),
        "usage": " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)]),
        "options": options,
        "example": getattr(command, "example", None),
    }


def _path_of(ctx: click.Context, prog: str) -> str:
    return ctx.command_path.removeprefix(prog).strip()
