"""The composition root: builds the bot's parts once and hands them down."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from handlers.commands import ROOT
from handlers.console_chat import ConsoleChat
from handlers.context import Deps
from handlers.relay_chat import RelayChat
from handlers.rendering import Renderer
from handlers.router import Router
from services.chat import Chat
from services.clock import CLOCK_FILE_ENV, Clock, FileClock, SystemClock
from services.settings import Settings
from services.store import Store
from services.store.migrations import migrate
from services.worker import Worker

# Builds the chat platform from the renderer, the store (for the outbox) and the clock.
ChatFactory = Callable[[Renderer, Store, Clock], Chat]


def build_deps(
    settings: Settings,
    *,
    chat: ChatFactory | None = None,
    clock: Clock | None = None,
    migrate_store: bool = True,
) -> Deps:
    """The bot's parts; `chat` builds the platform (Slack), by default the console's."""
    clock = clock or default_clock()
    store = Store(settings.store.path)
    if migrate_store:
        migrate(store, clock=clock)
    renderer = Renderer(override_dir=settings.templates_dir, zone=settings.zone)
    return Deps(
        settings=settings,
        store=store,
        clock=clock,
        renderer=renderer,
        worker=Worker(threads=settings.workers),
        chat=(chat or partial(console_chat, relayed=relayed_channels(settings)))(
            renderer, store, clock
        ),
    )


def console_chat(
    renderer: Renderer, store: Store, clock: Clock, *, relayed: frozenset[str] = frozenset()
) -> Chat:
    """A terminal's chat: printed; what goes to `relayed` Slack channels is also queued for
    the serving bot to deliver (handlers/relay_chat.py)."""
    if relayed:
        return RelayChat(renderer, store=store, clock=clock, relayed=relayed)
    return ConsoleChat(renderer)


def relayed_channels(settings: Settings) -> frozenset[str]:
    """The Slack channels a terminal posts in through the bot: the deployments channel."""
    channel = settings.deployments_channel
    return frozenset({channel}) if channel else frozenset()


def default_clock() -> Clock:
    """The system clock, or a clock file for drills and restart tests (HOTFIX_CLOCK_FILE)."""
    path = os.environ.get(CLOCK_FILE_ENV)
    return FileClock(Path(path)) if path else SystemClock()


def build_router(settings: Settings) -> Router:
    return Router(ROOT, prog=settings.slack.command)


def close_deps(deps: Deps) -> None:
    deps.worker.shutdown(wait=True)
    deps.store.close()
