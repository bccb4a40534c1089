"""Buttons, independent of Slack: the console presses the same buttons.

A button's handler receives the CommandEnv of the press (who pressed, where) and what
was pressed, and returns a Reply. Authorisation belongs inside each handler, checked on
every press: seeing a button is not permission to press it.

Each feature lists its buttons (`BUTTONS`) and its `register()` adds them to the
registry built by handlers.features; nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from handlers.core.context import CommandEnv
from handlers.core.guard import run_guarded
from handlers.core.replies import Reply
from services.errors import UserFacingError
from services.metrics import declare_actions


@dataclass(frozen=True)
class ButtonPress:
    """What was pressed: the button's value, or a picker's / checklist's selection."""

    value: str = ""
    selected: tuple[str, ...] = ()
    block_id: str = ""
    message_ts: str | None = None


ButtonFn = Callable[[CommandEnv, ButtonPress], Reply]


@dataclass(frozen=True)
class Button:
    """A button's action_id (or, with `prefix`, the start of a family of them) and handler."""

    action_id: str
    handler: ButtonFn
    # Inline buttons run inside Slack's 3 s window on the listener thread: they open
    # forms, whose trigger ids expire. The rest run on the worker.
    inline: bool = False
    prefix: bool = False


class Buttons:
    """Every button the bot answers, by action_id."""

    def __init__(self, buttons: Iterable[Button] = ()) -> None:
        self._exact: dict[str, Button] = {}
        self._prefixed: dict[str, Button] = {}
        self.add(*buttons)

    def add(self, *buttons: Button) -> None:
        for button in buttons:
            table = self._prefixed if button.prefix else self._exact
            if button.action_id in table:
                raise ValueError(f"button {button.action_id} registered twice")
            table[button.action_id] = button
            declare_actions([f"click:{button.action_id}"], prefix=button.prefix)

    def find(self, action_id: str) -> Button | None:
        button = self._exact.get(action_id)
        if button is None:
            button = next((b for p, b in self._prefixed.items() if action_id.startswith(p)), None)
        return button

    def __iter__(self) -> Iterator[Button]:
        return iter([*self._exact.values(), *self._prefixed.values()])

    def press(self, action_id: str, press: ButtonPress, env: CommandEnv) -> Reply:
        """Run one press, audit it, and turn every failure into a reply."""
        button = self.find(action_id)

        def run() -> Reply:
            if button is None:
                raise UserFacingError(
                    "That button is no longer supported by this bot.",
                    hint="Run the command again to get a fresh message.",
                )
            return button.handler(env, press)

        return run_guarded(
            env,
            action=f"click:{action_id}",
            detail=(press.value or ",".join(press.selected))[:500],
            what="that click",
            run=run,
        )
