"""The composition root: builds the bot's parts once and hands them down."""

from __future__ import annotations

from handlers.commands import ROOT
from handlers.context import Deps
from handlers.rendering import Renderer
from handlers.router import Router
from services.clock import Clock, SystemClock
from services.settings import Settings
from services.store import Store
from services.store.migrations import migrate
from services.worker import Worker


def build_deps(
    settings: Settings, *, clock: Clock | None = None, migrate_store: bool = True
) -> Deps:
    clock = clock or SystemClock()
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
    )


def build_router(settings: Settings) -> Router:
    return Router(ROOT, prog=settings.slack.command)


def close_deps(deps: Deps) -> None:
    deps.worker.shutdown(wait=True)
    deps.store.close()
