"""A terminal's chat when deployments have a Slack home: print here, deliver through the bot.

The console and `hotfix-bot <command>` have no Slack connection. What they post in the
configured deployments channel (a card asked from the terminal, its edits, its thread)
is printed like everything else and also queued in the store's outbox, which the
serving bot delivers on its next tick (replacing the placeholder ts everywhere, so the
card's later edits reach the right message). With no bot serving, it waits there.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from handlers.console.chat import ConsoleChat
from handlers.core.rendering import Renderer
from services import outbox
from services.chat import Message, Posted
from services.clock import Clock
from services.store import Store


class RelayChat(ConsoleChat):
    def __init__(
        self,
        renderer: Renderer,
        out: TextIO = sys.stdout,
        *,
        store: Store,
        clock: Clock,
        relayed: frozenset[str],
    ) -> None:
        super().__init__(renderer, out)
        self.store = store
        self.clock = clock
        self.relayed = relayed
        # Callers keep the outbox's placeholder ts; the terminal knows the message by the ts
        # it printed it under (so an edit prints what changed, and a reply its thread).
        self._printed_as: dict[str, str] = {}

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        local_thread = self._printed_as.get(thread_ts or "", thread_ts)
        printed = super().post(channel_id, message, thread_ts=local_thread, broadcast=broadcast)
        if channel_id not in self.relayed:
            return printed
        placeholder = self._queue(
            "post", channel_id, message, thread_ts=thread_ts, broadcast=broadcast
        )
        self._printed_as[placeholder] = printed.ts
        return Posted(channel_id=channel_id, ts=placeholder)

    def update(self, channel_id: str, ts: str, message: Message) -> None:
        super().update(channel_id, self._printed_as.get(ts, ts), message)
        if channel_id not in self.relayed:
            return
        if not outbox.replace_last_update(
            self.store, channel_id=channel_id, ts=ts, message=message
        ):
            self._queue("update", channel_id, message, ts=ts)

    def _queue(self, op: str, channel_id: str, message: Message, **where: Any) -> str:
        return outbox.enqueue(
            self.store,
            clock=self.clock,
            channel_id=channel_id,
            op=f"{outbox.RELAY}{op}",
            message=message,
            **where,
        )
