"""The numbers of everything pressable the console has printed, across all its messages.

In Slack every message keeps its buttons; in the terminal a button is a number.
A number stays bound to its button while its message shows it: when a message is
updated, a button it still shows keeps its number (so an unchanged button line is
not printed again), a button it no longer shows stops working, a new one gets a
new number. Messages printed by the worker (a deployment card) and the replies to
commands share one board, so every number on screen can be pressed.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass

from handlers.console.text import Choice, ConsoleText, to_console
from handlers.core.rendering import RenderedMessage

# Oldest messages' numbers are forgotten past this many messages (their lines scrolled away).
MAX_MESSAGES = 500


@dataclass(frozen=True)
class Placed:
    """A choice and the message it is on: a press acts in that message's channel."""

    choice: Choice
    channel_id: str | None
    message_ts: str | None


class ChoiceBoard:
    def __init__(self) -> None:
        self._next = itertools.count(1)
        self._lock = threading.Lock()
        self._placed: dict[int, Placed] = {}
        # message key -> the numbers it shows, in order; oldest message first
        self._messages: OrderedDict[tuple[str, str], list[int]] = OrderedDict()

    def show(
        self, message: RenderedMessage, *, channel_id: str | None, message_ts: str | None
    ) -> ConsoleText:
        """The message as terminal text, its choices numbered on this board."""
        key = (channel_id or "", message_ts or "")
        with self._lock:  # the worker prints cards while the person types
            previous = self._messages.get(key, [])
            shown: list[int] = []

            def number(choice: Choice) -> int:
                found = next(
                    (
                        n
                        for n in previous
                        if n in self._placed and self._placed[n].choice == choice and n not in shown
                    ),
                    None,
                )
                if found is None:
                    found = next(self._next)
                self._placed[found] = Placed(choice, channel_id, message_ts)
                shown.append(found)
                return found

            rendered = to_console(message, number=number)
            for gone in set(previous) - set(shown):
                self._placed.pop(gone, None)
            self._messages[key] = shown
            self._messages.move_to_end(key)
            while len(self._messages) > MAX_MESSAGES:
                _, numbers = self._messages.popitem(last=False)
                for old in numbers:
                    self._placed.pop(old, None)
        return rendered

    def get(self, number: int) -> Placed | None:
        with self._lock:
            return self._placed.get(number)

    def live(self) -> list[int]:
        """The numbers that can be pressed now."""
        with self._lock:
            return sorted(self._placed)
