"""Builds the configured integrations: each package says whether it is configured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.chat import Chat
from services.clock import Clock
from services.comms.dispatcher import Channel, Dispatcher, FailureReport
from services.comms.hub import Comms
from services.comms.planning import Planner
from services.comms.templates import TextTemplates
from services.settings import Settings
from services.store import Store


@dataclass(frozen=True)
class Integration:
    channel: Channel
    planner: Planner


@dataclass(frozen=True)
class BuildContext:
    settings: Settings
    store: Store
    clock: Clock
    templates: TextTemplates
    # Where credentials are read from (os.environ in the bot); never logged, never passed on.
    environ: Mapping[str, str]
    # The war room's chat, for what an integration leaves there (the status page bookmark).
    chat: Chat | None = None


Builder = Callable[[BuildContext], Integration | None]


def builders() -> tuple[Builder, ...]:
    # Imported here: each package imports its client library only when the bot builds it.
    from services.comms.email.integration import build as email
    from services.comms.pagerduty.integration import build as pagerduty
    from services.comms.statuspage.integration import build as statuspage

    return (statuspage, pagerduty, email)


def build_comms(
    context: BuildContext,
    *,
    wake: Callable[[], None] | None = None,
    on_failure: FailureReport | None = None,
) -> Comms:
    integrations = [i for build in builders() if (i := build(context)) is not None]
    dispatcher = Dispatcher(
        store=context.store,
        clock=context.clock,
        channels={i.channel.name: i.channel for i in integrations},
        on_failure=on_failure,
    )
    return Comms(
        store=context.store,
        clock=context.clock,
        planners=[i.planner for i in integrations],
        dispatcher=dispatcher,
        wake=wake,
    )
