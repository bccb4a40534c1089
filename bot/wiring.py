"""The composition root: builds the bot's parts once and hands them down."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from handlers.console.chat import ConsoleChat
from handlers.console.relay import RelayChat
from handlers.core.context import Deps
from handlers.core.rendering import Renderer
from handlers.core.router import Router
from handlers.features import build_registry
from services.chat import Chat, Message
from services.clock import CLOCK_FILE_ENV, Clock, FileClock, SystemClock
from services.comms.deliveries import Delivery, claim_telling, refusal_sentence
from services.comms.hub import Comms
from services.comms.registry import BuildContext, build_comms
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
    delivers: Callable[[], bool] | None = None,
) -> Deps:
    """The bot's parts; `chat` builds the platform (Slack), by default the console's.

    `delivers`: whether this process sends what is queued for outside Slack (status page,
    paging, email); a terminal beside a serving bot leaves that to the bot.
    """
    clock = clock or default_clock()
    store = Store(settings.store.path)
    if migrate_store:
        migrate(store, clock=clock)
    renderer = Renderer(override_dir=settings.templates_dir, zone=settings.zone)
    worker = Worker(threads=settings.workers)
    platform = (chat or partial(console_chat, relayed=relayed_channels(settings)))(
        renderer, store, clock
    )
    comms = build_comms(
        BuildContext(
            settings=settings,
            store=store,
            clock=clock,
            templates=renderer,
            environ=os.environ,
            chat=platform,
        ),
        on_failure=partial(_tell_war_room_of_failure, store=store, chat=platform, clock=clock),
    )
    comms.may_deliver = delivers or (lambda: True)
    comms.wake = partial(_drain_soon, comms, worker)
    return Deps(
        settings=settings,
        store=store,
        clock=clock,
        renderer=renderer,
        worker=worker,
        chat=platform,
        comms=comms,
    )


def _drain_soon(comms: Comms, worker: Worker) -> None:
    """Deliver what is due on the worker, one job per channel (a slow mail relay holds back
    email only), on the long threads (a relay may take minutes to answer)."""
    if not comms.may_deliver():
        return
    for name in comms.channel_names:
        if comms.busy(name):
            continue  # the running drain goes round once more: no job piles up behind it
        worker.submit(
            partial(comms.drain, name),
            describe=f"deliveries to {name}",
            long=True,
            one_at_a_time=f"deliveries:{name}",
        )


def _tell_war_room_of_failure(
    delivery: Delivery, error: str, *, store: Store, chat: Chat, clock: Clock
) -> None:
    """Nothing silent: a status page, page or email refused for good is said in the war room."""
    if delivery.incident_id is None:
        return
    from services.incidents import records

    incident = records.get(store, delivery.incident_id)
    # Before the war room exists, its opening flow says it (services/incidents/outside.py);
    # whichever tells first claims it, so it is said once.
    if incident.channel_id and claim_telling(store, clock=clock, delivery_id=delivery.id):
        text = f":warning: {refusal_sentence(delivery, error)}"
        chat.post(incident.channel_id, Message("plain", {"text": text}))


def console_chat(
    renderer: Renderer, store: Store, clock: Clock, *, relayed: frozenset[str] = frozenset()
) -> Chat:
    """A terminal's chat: printed; what goes to `relayed` Slack channels is also queued for
    the serving bot to deliver (handlers/console/relay.py)."""
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
    """The command tree, buttons and forms of every feature, built once per call."""
    registry = build_registry()
    return Router(
        registry.root,
        prog=settings.slack.command,
        buttons=registry.buttons,
        forms=registry.forms,
    )


def close_deps(deps: Deps) -> None:
    deps.worker.shutdown(wait=True)
    deps.store.close()
