"""`Comms`: what the incident flows tell, and what delivers it.

The flows call `tell` after their change is recorded; it plans and queues the
deliveries and wakes the dispatcher, and never raises: a status page, pager or mail
server that is down must never block the war room. Its problems (a planner's bug) come
back as sentences for the flow's report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from services.clock import Clock
from services.comms import deliveries
from services.comms.deliveries import Outgoing
from services.comms.dispatcher import Dispatcher, DrainReport
from services.comms.news import IncidentNews
from services.comms.planning import Planner
from services.store import Store

log = logging.getLogger(__name__)


class Comms:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        planners: Sequence[Planner] = (),
        dispatcher: Dispatcher | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.planners = tuple(planners)
        self.dispatcher = dispatcher
        # Starts a drain soon (on the bot's worker).
        self.wake = wake
        # Whether this process delivers: a terminal beside a serving bot leaves it to the bot.
        self.may_deliver: Callable[[], bool] = lambda: True

    @property
    def configured(self) -> bool:
        return bool(self.planners)

    def delivers_to(self, channel: str) -> bool:
        """Whether `channel` ("statuspage"…) is configured (its buttons are shown)."""
        return self.dispatcher is not None and channel in self.dispatcher.channels

    def tell(self, news: IncidentNews) -> list[str]:
        """Plan and queue what `news` owes each integration, once per news and delivery."""
        if not self.planners:
            return []
        problems: list[str] = []
        queued = False
        for planner in self.planners:
            try:
                planned = planner.plan(news)
            except Exception as exc:
                log.exception("planning %s for %s failed", news.occasion, news.incident.id)
                problems.append(
                    f"Could not plan what {type(planner).__name__} owes: {type(exc).__name__}"
                )
                continue
            for outgoing in planned:
                queued |= deliveries.enqueue(
                    self.store,
                    clock=self.clock,
                    incident_id=news.incident.id,
                    outgoing=outgoing,
                    dedup_key=dedup_key(news, outgoing),
                    war_room_open=news.incident.channel_id is not None,
                )
        if queued and self.wake is not None:
            self.wake()
        return problems

    def war_room_opened(self, incident_id: str) -> None:
        """Release what waited for the incident's war room (to link it), and deliver it."""
        released = self.planners and deliveries.war_room_opened(self.store, incident_id)
        if released and self.wake is not None:
            self.wake()

    @property
    def channel_names(self) -> list[str]:
        return list(self.dispatcher.channels) if self.dispatcher is not None else []

    def busy(self, channel: str) -> bool:
        """Whether `channel` is being drained (which then goes round once more)."""
        return self.dispatcher is not None and self.dispatcher.busy(channel)

    def drain(self, channel: str | None = None) -> DrainReport:
        """Deliver what is due now, here (of one channel, or of each in turn)."""
        if self.dispatcher is None or not self.planners or not self.may_deliver():
            return DrainReport()
        return self.dispatcher.drain(channel)


def dedup_key(news: IncidentNews, outgoing: Outgoing) -> str:
    scope = f"incident:{news.incident.id}" if outgoing.once_per_incident else news.key
    return f"{scope}:{outgoing.channel}:{outgoing.key}"
