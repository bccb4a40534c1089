"""Console mode: the same commands and buttons in a terminal, with no Slack.

It is how a newcomer tries the bot, and how an engineer keeps working when
Slack itself is down: it runs against the same store as the Slack bot.
Everything pressable the console prints has a number: typing it presses the
button as this console's user, through the same action handlers (and the same
authorisation) as a click in Slack. A button that opens a form in Slack asks for
the form's fields here instead, then submits them like Slack would.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from handlers.console.chat import TERMINAL_CHANNEL, ConsoleChat, actor_for_login, channel_label
from handlers.console.choices import ChoiceBoard, Placed
from handlers.console.forms import CANCEL_WORDS, AnswerError, TerminalForm
from handlers.console.text import to_console
from handlers.core.buttons import ButtonPress
from handlers.core.context import CommandEnv, Deps, Invocation
from handlers.core.people import find_person
from handlers.core.replies import Reply
from handlers.core.router import Router
from services.chat import Message
from services.errors import UserFacingError
from services.incidents import records
from services.incidents.model import Incident
from services.incidents.presenting import incident_data

QUIT_WORDS = {"quit", "exit", ":q"}
YES = {"y", "yes"}


def console_actor(name: str | None = None) -> str:
    return actor_for_login(name or getpass.getuser())


@dataclass
class _Confirm:
    """A button with a confirmation dialog in Slack: asked before it is pressed."""

    placed: Placed


@dataclass
class _PickPerson:
    """A people picker (Assign commander): asks for the name."""

    placed: Placed


@dataclass
class _Form:
    form: TerminalForm
    env: CommandEnv


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
        # One board with the console chat: the buttons of every printed message can be pressed.
        chat = deps.chat
        self.board = chat.board if isinstance(chat, ConsoleChat) else ChoiceBoard()
        self.pending: _Confirm | _PickPerson | _Form | None = None
        self._replies = 0

    def env(self, text: str, *, channel_id: str | None = None) -> CommandEnv:
        invocation = Invocation(
            actor=self.actor,
            source="console",
            channel_id=channel_id or self.channel_id,
            text=text,
        )
        return CommandEnv(invocation, self.deps)

    def handle(self, line: str) -> str:
        """Run one line (a command, a number, or the answer asked for) and return what to print."""
        channels_before = len(self._created_channels())
        output = self._handle(line.strip())
        created = self._created_channels()
        if len(created) > channels_before:
            # Like Slack's invite: the console moves into the war room it just opened.
            self.channel_id = created[-1]
            output += (
                f"\n(you are now in {channel_label(created[-1])}; commands act on its incident)"
            )
        return output

    def _handle(self, text: str) -> str:
        if self.pending is not None:
            return self._answer(text)
        if not text:
            return ""
        if text.isdigit():
            return self.press(int(text))
        moved = self._move(text)
        if moved is not None:
            return moved
        return self.show(self.router.run(text, self.env(text)))

    def _created_channels(self) -> list[str]:
        return list(getattr(self.deps.chat, "created_channels", []))

    # -- buttons -----------------------------------------------------------

    def press(self, number: int) -> str:
        placed = self.board.get(number)
        if placed is None:
            return self._no_such_choice(number)
        choice = placed.choice
        if choice.kind == "users_select":
            self.pending = _PickPerson(placed)
            return f"{choice.label.rstrip('…')}: who? Type @name (or cancel)."
        if choice.confirm:
            self.pending = _Confirm(placed)
            return f"{choice.confirm} [y/N]"
        return self._press(placed, ButtonPress(value=choice.value, block_id=choice.block_id))

    def _press(self, placed: Placed, press: ButtonPress) -> str:
        choice = placed.choice
        if choice.kind == "checkbox":  # a checklist sends all its ticked options
            ticked = set(choice.ticked) ^ {choice.value}
            press = ButtonPress(selected=tuple(sorted(ticked)), block_id=choice.block_id)
        press = ButtonPress(press.value, press.selected, press.block_id, placed.message_ts)
        # A press acts where its message is, as in Slack (a card in a war room).
        env = self.env(f"[{choice.label}]", channel_id=placed.channel_id)
        return self.show(self.router.buttons.press(choice.action_id, press, env), env=env)

    def _no_such_choice(self, number: int) -> str:
        live = self.board.live()
        if not live:
            return f"There is no choice {number}: nothing on screen has buttons."
        if live == list(range(live[0], live[-1] + 1)):
            shown = f"{live[0]} to {live[-1]}"
        else:
            shown = ", ".join(str(n) for n in live[-12:])
        return (
            f"There is no choice {number} (its message changed, or it never existed);"
            f" pick one of {shown}."
        )

    # -- questions: confirmations, people pickers, forms --------------------

    def _answer(self, text: str) -> str:
        pending = self.pending
        if text.lower() in CANCEL_WORDS:
            self.pending = None
            return "Cancelled; nothing was sent."
        if isinstance(pending, _Confirm):
            self.pending = None
            if text.lower() not in YES:
                return "Not pressed; nothing was sent."
            choice = pending.placed.choice
            return self._press(
                pending.placed, ButtonPress(value=choice.value, block_id=choice.block_id)
            )
        if isinstance(pending, _PickPerson):
            try:
                user = find_person(self.deps.chat, text)
            except UserFacingError as exc:
                return f"{exc.message} {exc.hint or ''}".strip() + " Who? (or cancel)"
            self.pending = None
            choice = pending.placed.choice
            return self._press(
                pending.placed, ButtonPress(selected=(user,), block_id=choice.block_id)
            )
        assert isinstance(pending, _Form)
        return self._fill(pending, text)

    def _fill(self, pending: _Form, text: str) -> str:
        form = pending.form
        try:
            form.answer(text, find_person=lambda typed: find_person(self.deps.chat, typed))
        except (AnswerError, UserFacingError) as exc:
            message = exc.message if isinstance(exc, UserFacingError) else str(exc)
            return f"{message}\n{form.question()}"
        if not form.done:
            return form.question()
        errors = self.router.forms.check(form.callback_id, form.values, self.deps.chat)
        if errors:
            # As Slack shows them next to the fields: the field's name, the message, asked again.
            return f"{form.refused(errors)}\n{form.question()}"
        self.pending = None
        return self.show(
            self.router.forms.submit(pending.env, form.callback_id, form.values, form.metadata),
            env=pending.env,
        )

    # -- output ------------------------------------------------------------

    def show(self, reply: Reply, *, env: CommandEnv | None = None) -> str:
        if reply.modal:
            view = self.deps.renderer.render_data(reply.template, dict(reply.data))
            form = TerminalForm.of(view)
            if form.callback_id not in self.router.forms or not form.fields:
                return f"That form ({form.callback_id}) cannot be filled in the terminal."
            self.pending = _Form(form, env or self.env(""))
            return f"{form.intro()}\n{form.question()}"
        self._replies += 1
        rendered = self.board.show(
            self.deps.renderer.render(reply),
            channel_id=env.invocation.channel_id if env else self.channel_id,
            message_ts=f"reply-{self._replies}",
        )
        return rendered.text

    def greet(self) -> list[str]:
        lines = [
            "hotfix-bot console. Type help for commands, a number to press a button,"
            " quit to leave.",
            f"You are {self.actor}; store: {self.deps.settings.store.path}",
        ]
        if self.channel_id != TERMINAL_CHANNEL:
            here = records.by_channel(self.deps.store, self.channel_id)
            acts_on = f"commands act on {here.id}" if here else "no incident's war room"
            lines.append(f"You are now in {channel_label(self.channel_id)}; {acts_on}.")
            return lines
        rooms = [i for i in records.open_incidents(self.deps.store) if i.channel_id]
        if rooms:
            # After a restart the console is back in the terminal: say where work goes on.
            lines.append("Open war rooms:")
            lines += [f"  {i.id}  {channel_label(i.channel_id or '')}  {i.title}" for i in rooms]
            lines.append(
                f"Enter one with: join {rooms[0].id} (commands there act on its incident);"
                " leave comes back to the terminal."
            )
        return lines

    def _show_header(self, incident: Incident) -> None:
        """The war room's header again, under its reference: its buttons get numbers to press."""
        chat = self.deps.chat
        if isinstance(chat, ConsoleChat) and incident.channel_id and incident.header_ts:
            data = {"incident": incident_data(incident, now=self.deps.clock.now())}
            chat.show_again(
                incident.channel_id, incident.header_ts, Message("incident_header", data)
            )

    def _move(self, text: str) -> str | None:
        """`join INC-4` / `join #inc-4-…` / `leave`: the console's own commands, not the bot's."""
        word, _, target = text.partition(" ")
        if word == "leave" and not target:
            self.channel_id = TERMINAL_CHANNEL
            return "You are back in the terminal (no war room)."
        if word != "join" or not target.strip():
            return None
        wanted = target.strip().lower()
        for incident in records.open_incidents(self.deps.store):
            name = channel_label(incident.channel_id or "").lower()
            if incident.channel_id and wanted in (incident.id.lower(), name, name.lstrip("#")):
                self.channel_id = incident.channel_id
                self._show_header(incident)
                return (
                    f"You are now in {channel_label(incident.channel_id)};"
                    f" commands act on {incident.id}."
                )
        return f"No open war room {target.strip()[:80]!r}. The open ones: incident list."

    def loop(self, lines: Iterable[str], *, interactive: bool) -> None:
        for line in self.greet():
            self.say(line)
        self.prompt(interactive)
        for line in lines:
            if line.strip() in QUIT_WORDS and self.pending is None:
                break
            output = self.handle(line)
            if output:
                self.say(output)
            self.prompt(interactive)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prompt(self, interactive: bool) -> None:
        if interactive:
            print("hotfix> " if self.pending is None else "> ", end="", file=self.out, flush=True)


def run_cli_command(deps: Deps, router: Router, words: list[str], *, actor: str) -> tuple[int, str]:
    """One chat command from the terminal (`hotfix-bot audit --limit 5`)."""
    code, text, _reply = run_cli_reply(deps, router, words, actor=actor)
    return code, text


def run_cli_reply(
    deps: Deps, router: Router, words: list[str], *, actor: str
) -> tuple[int, str, Reply]:
    """The same, with the reply itself (a deployment request's answer names what to follow)."""
    text = shlex.join(words)
    invocation = Invocation(actor=actor, source="cli", text=text)
    prepared = router.prepare(text, CommandEnv(invocation, deps))
    reply = router.execute(prepared, CommandEnv(invocation, deps))
    code = 0 if reply.template != "error" else 1
    if reply.template == "usage_error":
        code = 2
    # The process ends here: its buttons are shown, but without numbers to press.
    return code, to_console(deps.renderer.render(reply), pressable=False).text, reply
