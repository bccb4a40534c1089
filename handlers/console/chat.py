"""The chat platform of the console mode: messages are printed, channels are names.

It lets every incident flow run with Slack down or absent: what would be
posted in a channel is printed with the channel's name and the message's
reference (`[#inc-4-payment-gateway-down · msg 3]`) in front. An update of a
message (Slack's chat.update) prints only the lines that changed, under the same
reference: a deployment card changes a dozen times, and a terminal that printed
it whole every time would bury everything else.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import sys
import threading
from collections import OrderedDict
from typing import TextIO

from handlers.console.choices import ChoiceBoard
from handlers.core.rendering import Renderer
from handlers.core.replies import Reply
from services.chat import ChatMessage, InviteFailure, Message, Posted

# Console channel ids are their names: "console:#inc-4-payment-gateway-down", "console:@alice".
CHANNEL_PREFIX = "console:"
# The console's own channel: a terminal outside any war room.
TERMINAL_CHANNEL = f"{CHANNEL_PREFIX}terminal"
# How many printed messages are remembered for showing only what an update changed.
REMEMBERED = 500
# A console user's name, as given to `--user` or typed after @.
CONSOLE_NAME = re.compile(r"[A-Za-z0-9][\w.\-]{0,63}")


def actor_for_login(name: str) -> str:
    return f"{CHANNEL_PREFIX}{name}"


def channel_label(channel_id: str) -> str:
    """A console channel as people see it: `#inc-4-…`, `DM @alice`, `terminal`."""
    name = channel_id.removeprefix(CHANNEL_PREFIX)
    return f"DM {person(name[1:])}" if name.startswith("@") else name


def person(user_id: str) -> str:
    """`@alice` for the console user console:alice (a Slack id stays an id: `@U0BOB`)."""
    return "@" + user_id.removeprefix(CHANNEL_PREFIX)


def changed_lines(before: list[str], after: list[str]) -> list[str]:
    """What an update changed: new and changed lines as they read now, removed ones marked."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            out += after[b_start:b_end]
        if tag == "delete" or (tag == "replace" and a_end - a_start > b_end - b_start):
            out += [f"(removed) {line}" for line in before[a_start + (b_end - b_start) : a_end]]
    return out


class ConsoleChat:
    def __init__(
        self, renderer: Renderer, out: TextIO = sys.stdout, board: ChoiceBoard | None = None
    ) -> None:
        self.renderer = renderer
        self.out = out
        # Every button printed gets a number the console user can press (bot/console.py).
        self.board = board or ChoiceBoard()
        self._ts = itertools.count(1)
        self._session = f"{os.getpid() % 1_000_000:06d}"
        self._lock = threading.Lock()
        self._shown: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self.created_channels: list[str] = []

    def _say(self, channel_id: str, text: str, *, ref: str = "", spaced: bool = True) -> None:
        where = channel_label(channel_id) + (f" · {ref}" if ref else "")
        with self._lock:
            gap = "" if text.startswith("\n") else " "
            print(f"{chr(10) if spaced else ''}[{where}]{gap}{text}", file=self.out, flush=True)

    def _lines(self, channel_id: str, ts: str, message: Message) -> list[str]:
        rendered = self.board.show(
            self.renderer.render(Reply(message.template, message.data)),
            channel_id=channel_id,
            message_ts=ts,
        )
        lines = rendered.text.splitlines()
        with self._lock:
            self._shown[(channel_id, ts)] = lines
            self._shown.move_to_end((channel_id, ts))
            while len(self._shown) > REMEMBERED:
                self._shown.popitem(last=False)
        return lines

    def _print(self, channel_id: str, ts: str, message: Message, *, heading: str = "") -> None:
        lines = self._lines(channel_id, ts, message)
        self._say(
            channel_id,
            "\n".join([heading, *lines] if heading else lines),
            ref=_ref(ts, self._session),
        )

    def show_again(self, channel_id: str, ts: str, message: Message) -> None:
        """Print a message posted earlier (perhaps by an earlier session) as it reads now."""
        self._print(channel_id, ts, message)

    def _next_ts(self) -> str:
        # Unique across restarts (the store keeps a card's ts): "<n>.<this session's tag>".
        return f"{next(self._ts)}.{self._session}"

    def create_channel(self, name: str, *, private: bool) -> str:
        channel_id = f"{CHANNEL_PREFIX}#{name}"
        self.created_channels.append(channel_id)
        self._say(channel_id, f"(channel #{name} created{' (private)' if private else ''})")
        return channel_id

    def invite(self, channel_id: str, user_ids: list[str]) -> list[InviteFailure]:
        self._say(channel_id, "(invited " + ", ".join(person(u) for u in user_ids) + ")")
        return []

    def set_topic(self, channel_id: str, topic: str) -> None:
        self._say(channel_id, f"(topic: {topic})")

    def add_bookmark(self, channel_id: str, *, title: str, link: str) -> None:
        self._say(channel_id, f"(bookmark: {title} {link})")

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        ts = self._next_ts()
        heading = f"(in thread of {_ref(thread_ts, self._session)})" if thread_ts else ""
        self._print(channel_id, ts, message, heading=heading)
        return Posted(channel_id, ts)

    def update(self, channel_id: str, ts: str, message: Message) -> None:
        with self._lock:
            before = self._shown.get((channel_id, ts))
        after = self._lines(channel_id, ts, message)
        if before is None:  # printed before a restart, or forgotten: print it whole
            self._say(channel_id, "(updated)\n" + "\n".join(after), ref=_ref(ts, self._session))
            return
        changes = changed_lines(before, after)
        if not changes:
            return  # nothing a reader could see changed
        # Right under what it changes, one line when one line changed: a card's steps.
        text = changes[0] if len(changes) == 1 else "\n".join(["", *changes])
        self._say(
            channel_id,
            text.strip() if len(changes) == 1 else text,
            ref=f"{_ref(ts, self._session)} updated",
            spaced=False,
        )

    def direct_message(self, user_id: str, message: Message) -> Posted:
        return self.post(f"{CHANNEL_PREFIX}@{user_id}", message)

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        return []

    def user_name(self, user_id: str) -> str | None:
        return user_id

    def find_users(self, name: str) -> list[str]:
        # Console users are their names: `--user alice` is console:alice.
        return [actor_for_login(name)] if CONSOLE_NAME.fullmatch(name) else []

    def read_message(self, channel_id: str, ts: str) -> ChatMessage | None:
        return None

    def upload_file(
        self, channel_id: str, *, filename: str, content: str, title: str, comment: str
    ) -> None:
        self._say(channel_id, f"{comment}\n--- {filename} ---\n{content}")

    def find_channel(self, name: str) -> str | None:
        # Console channels are names, not things: one asked for before a crash exists.
        return f"{CHANNEL_PREFIX}#{name}"

    def find_message(
        self, channel_id: str, key: str, *, thread_ts: str | None = None
    ) -> str | None:
        return None  # printed lines cannot be read back; printing again is harmless

    def find_direct_message(self, user_id: str, key: str) -> Posted | None:
        return None  # as find_message: nothing printed can be read back

    def drain_outbox(self) -> list[str]:
        return []  # the console never queues


def _ref(ts: str | None, session: str = "") -> str:
    """`msg 3` for the console's timestamp "3.<session>"; older sessions' messages say so."""
    number, _, tag = (ts or "?").partition(".")
    return f"msg {number}" + ("" if tag == session else " of an earlier session")
