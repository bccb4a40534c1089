"""The chat platform of the console mode: messages are printed, channels are names.

It lets every incident flow run with Slack down or absent: what would be
posted in a channel is printed with the channel's name in front.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import TextIO

from handlers.console_text import to_console
from handlers.rendering import Renderer
from handlers.replies import Reply
from services.chat import ChatMessage, InviteFailure, Message, Posted


class ConsoleChat:
    def __init__(self, renderer: Renderer, out: TextIO = sys.stdout) -> None:
        self.renderer = renderer
        self.out = out
        self._names: dict[str, str] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.created_channels: list[str] = []

    def _print(self, channel_id: str, heading: str, message: Message | None = None) -> None:
        name = self._names.get(channel_id, channel_id)
        text = heading
        if message is not None:
            rendered = to_console(self.renderer.render(Reply(message.template, message.data)))
            text = f"{heading}\n{rendered.text}" if heading else rendered.text
        with self._lock:
            print(f"\n[{name}] {text}", file=self.out, flush=True)

    def _next_ts(self) -> str:
        return f"{next(self._ts)}.000000"

    def create_channel(self, name: str, *, private: bool) -> str:
        channel_id = f"console:#{name}"
        self._names[channel_id] = f"#{name}"
        self.created_channels.append(channel_id)
        self._print(channel_id, f"(channel #{name} created{' (private)' if private else ''})")
        return channel_id

    def invite(self, channel_id: str, user_ids: list[str]) -> list[InviteFailure]:
        self._print(channel_id, "(invited " + ", ".join(f"@{u}" for u in user_ids) + ")")
        return []

    def set_topic(self, channel_id: str, topic: str) -> None:
        self._print(channel_id, f"(topic: {topic})")

    def add_bookmark(self, channel_id: str, *, title: str, link: str) -> None:
        self._print(channel_id, f"(bookmark: {title} {link})")

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        self._print(channel_id, "(in thread)" if thread_ts else "", message)
        return Posted(channel_id, self._next_ts())

    def update(self, channel_id: str, ts: str, message: Message) -> None:
        self._print(channel_id, f"(message {ts} updated)", message)

    def post_ephemeral(self, channel_id: str, user_id: str, message: Message) -> None:
        self._print(channel_id, f"(only @{user_id} sees this)", message)

    def direct_message(self, user_id: str, message: Message) -> Posted:
        channel_id = f"console:@{user_id}"
        self._names[channel_id] = f"DM @{user_id}"
        return self.post(channel_id, message)

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        return []

    def user_name(self, user_id: str) -> str | None:
        return user_id

    def read_message(self, channel_id: str, ts: str) -> ChatMessage | None:
        return None

    def upload_file(
        self, channel_id: str, *, filename: str, content: str, title: str, comment: str
    ) -> None:
        self._print(channel_id, f"{comment}\n--- {filename} ---\n{content}")

    def permalink(self, channel_id: str, ts: str) -> str | None:
        return None

    def find_channel(self, name: str) -> str | None:
        # Console channels are names, not things: one asked for before a crash exists.
        channel_id = f"console:#{name}"
        self._names[channel_id] = f"#{name}"
        return channel_id

    def find_message(
        self, channel_id: str, key: str, *, thread_ts: str | None = None
    ) -> str | None:
        return None  # printed lines cannot be read back; printing again is harmless

    def find_direct_message(self, user_id: str, key: str) -> Posted | None:
        return None  # as find_message: nothing printed can be read back

    def drain_outbox(self) -> list[str]:
        return []  # the console never queues
