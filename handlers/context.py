"""What every handler is given: who is asking, from where, and the bot's dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Literal

from services.chat import Chat
from services.clock import Clock
from services.comms.hub import Comms
from services.deploy.engine import DeployDeps
from services.deploy.registry import make_backend
from services.hotfix import HotfixDeps
from services.incidents.listing import OpenIncidentsView
from services.incidents.war_room import WarRoomDeps
from services.people import DisplayNames
from services.settings import Settings
from services.store import Store
from services.worker import Worker

if TYPE_CHECKING:
    from handlers.rendering import Renderer

Source = Literal["slack", "console", "cli"]


@dataclass(frozen=True)
class Invocation:
    """One request from one person: a slash command, a click, a console line."""

    actor: str  # a Slack user id, or "console:<login>" outside Slack
    source: Source
    channel_id: str | None = None
    team_id: str | None = None
    trigger_id: str | None = None  # lets a handler open a modal within Slack's 3 s window
    text: str = ""
    # Run again from the command journal after a crash: flows look for what the dead
    # process may already have posted instead of trusting that it did.
    replayed: bool = False


@dataclass(frozen=True)
class Deps:
    """The bot's long-lived parts, built once by the composition root (`bot.wiring`)."""

    settings: Settings
    store: Store
    clock: Clock
    renderer: Renderer
    worker: Worker
    chat: Chat
    # The status page, paging and email (services/comms); nothing when none is configured.
    comms: Comms
    # The open incidents as list data, rebuilt only when they change (incident list).
    open_incidents: OpenIncidentsView = field(default_factory=OpenIncidentsView)

    @cached_property
    def people(self) -> DisplayNames:
        """Display names by user id (users.info), cached for the bot's lifetime."""
        return DisplayNames(self.chat, clock=self.clock)

    @property
    def hotfix(self) -> HotfixDeps:
        return HotfixDeps(
            settings=self.settings,
            store=self.store,
            clock=self.clock,
            chat=self.chat,
            data_dir=self.settings.store.path.parent,
        )

    @property
    def deploy(self) -> DeployDeps:
        return DeployDeps(
            settings=self.settings,
            store=self.store,
            clock=self.clock,
            chat=self.chat,
            backend_for=partial(make_backend, clock=self.clock),
        )

    @property
    def war_room(self) -> WarRoomDeps:
        return WarRoomDeps(
            store=self.store,
            clock=self.clock,
            chat=self.chat,
            settings=self.settings.incidents,
            comms=self.comms,
        )


@dataclass(frozen=True)
class CommandEnv:
    invocation: Invocation
    deps: Deps

    @property
    def war_room(self) -> WarRoomDeps:
        return replace(self.deps.war_room, resuming=self.invocation.replayed)

    def with_invocation(self, **changes: object) -> CommandEnv:
        return CommandEnv(replace(self.invocation, **changes), self.deps)  # type: ignore[arg-type]
