"""Console mode: the same commands and buttons in a terminal, with no Slack.

It is how a newcomer tries the bot, and how an engineer keeps working when
Slack itself is down: it runs against the same store as the Slack bot.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from collections.abc import Iterable
from typing import TextIO

from handlers.actions import Click, run_action
from handlers.console_text import Choice, to_console
from handlers.context import CommandEnv, Deps, Invocation
from handlers.replies import Reply
from handlers.router import Router

QUIT_WORDS = {"quit", "exit", ":q"}
TERMINAL_CHANNEL = "console:terminal"


def console_actor(name: str | None = None) -> str:
    return f"console:{name or getpass.getuser()}"


class Console:
    def __init__(
        self,
        deps: Deps,
        router: Router,
        *,
        actor: str,
        channel_id: str | None = None,
        out: TextIO = sys.stdout,
    ) -> None:
        self.deps = deps
        self.router = router
        self.actor = actor
        # The terminal is a channel of its own: messages posted "here" (a deployment card
        # requested outside a war room) are printed to it.
        self.channel_id = channel_id or TERMINAL_CHANNEL
        self.out = out
        self.choices: list[Choice] = []

    def env(self, text: str) -> CommandEnv:
        invocation = Invocation(
            actor=self.actor, source="console", channel_id=self.channel_id, text=text
        )
        return CommandEnv(invocation, self.deps)

    def handle(self, line: str) -> str:
        """Run one line (a command, or the number of a button) and return what to print."""
        text = line.strip()
        if not text:
            return ""
        if text.isdigit() and self.choices:
            index = int(text) - 1
            if not 0 <= index < len(self.choices):
                return f"There is no choice {text}; pick 1 to {len(self.choices)}."
            choice = self.choices[index]
            return self.show(
                run_action(choice.action_id, Click(value=choice.value), self.env(text))
            )
        channels_before = self._created_channels()
        output = self.show(self.router.run(text, self.env(text)))
        created = self._created_channels()
        if len(created) > len(channels_before):
            # Like Slack's invite: the console moves into the war room it just opened.
            self.channel_id = created[-1]
            output += f"\n(you are now in {created[-1].removeprefix('console:')}; commands act on its incident)"
        return output

    def _created_channels(self) -> list[str]:
        return list(getattr(self.deps.chat, "created_channels", []))

    def show(self, reply: Reply) -> str:
        rendered = to_console(self.deps.renderer.render(reply))
        self.choices = rendered.choices
        return rendered.text

    def loop(self, lines: Iterable[str], *, interactive: bool) -> None:
        self.say(
            "hotfix-bot console. Type `help` for commands, a number to press a button,"
            " `quit` to leave."
        )
        self.say(f"You are {self.actor}; store: {self.deps.settings.store.path}")
        self.prompt(interactive)
        for line in lines:
            if line.strip() in QUIT_WORDS:
                break
            output = self.handle(line)
            if output:
                self.say(output)
            self.prompt(interactive)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prompt(self, interactive: bool) -> None:
        if interactive:
            print("hotfix> ", end="", file=self.out, flush=True)


def run_cli_command(deps: Deps, router: Router, words: list[str], *, actor: str) -> tuple[int, str]:
    """One chat command from the terminal (`hotfix-bot audit --limit 5`)."""
    code, text, _reply = run_cli_reply(deps, router, words, actor=actor)
    return code, text


def run_cli_reply(
    deps: Deps, router: Router, words: list[str], *, actor: str
) -> tuple[int, str, Reply]:
    """The same, with the reply itself (a deployment request's answer names what to follow)."""
    text = shlex.join(words)
    console = Console(deps, router, actor=actor)
    invocation = Invocation(actor=actor, source="cli", text=text)
    prepared = router.prepare(text, CommandEnv(invocation, deps))
    reply = router.execute(prepared, CommandEnv(invocation, deps))
    code = 0 if reply.template != "error" else 1
    if reply.template == "usage_error":
        code = 2
    return code, console.show(reply), reply
