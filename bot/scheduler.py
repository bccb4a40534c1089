"""The periodic tick: reminders, expired approvals, idle blue-green colours, unfinished war rooms.

APScheduler drives it; SQLite decides.

No schedule is kept in memory: each tick asks the store which reminders are
due (`services.incidents.reminders.tick`), so a restart loses nothing. The
first tick runs at start, so reminders that fell due while the bot was down
go out at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from handlers.core.context import Deps
from services import journal, outbox
from services.backoff import Backoff
from services.comms import deliveries
from services.deploy import registry
from services.deploy.approvals import expire_due
from services.incidents.reminders import TickReport, tick
from services.incidents.war_room import resume_war_rooms
from services.metrics import DELIVERIES_WAITING, OUTBOX_DEPTH

log = logging.getLogger(__name__)

DELIVERY_TICK_SECONDS = 1.0


class ReminderScheduler:
    def __init__(
        self,
        deps: Deps,
        *,
        should_tick: Callable[[], bool] | None = None,
        finish_war_rooms: bool = True,
    ) -> None:
        self.deps = deps
        # The console's chat only prints: it must not "open" a war room Slack owes.
        self.finish_war_rooms = finish_war_rooms
        # The console asks whether a bot serves the database: then the bot's ticks post
        # the reminders to Slack, and a console tick would only print them here.
        self.should_tick = should_tick
        self._scheduler = BackgroundScheduler(timezone=UTC)
        # A war room Slack could not finish is retried each tick at first, then less and
        # less often, so a long outage is not met with a burst of calls every tick.
        tick = timedelta(seconds=deps.settings.incidents.reminder_tick_seconds)
        self._war_rooms = Backoff(first=tick, cap=max(tick, timedelta(minutes=15)))

    def run_tick(self) -> TickReport:
        if self.should_tick is not None and not self.should_tick():
            return TickReport()
        try:
            report = tick(deps=self.deps.war_room)
        except Exception:
            log.exception("reminder tick failed; the next tick tries again")
            return TickReport()
        try:
            expired = expire_due(self.deps.store, clock=self.deps.clock, chat=self.deps.chat)
        except Exception:
            log.exception("expiring deployment requests failed; the next tick tries again")
            expired = []
        if expired:
            log.info("deployment requests expired: %s", expired)
        try:
            if self.finish_war_rooms:
                self._finish_war_rooms()
        except Exception:
            log.exception("finishing war rooms failed; the next tick tries again")
        try:
            caught_up = self.deps.chat.drain_outbox()
        except Exception:
            log.exception("draining the outbox failed; the next tick tries again")
        else:
            if caught_up:
                log.info("outbox delivered for channels %s", caught_up)
        OUTBOX_DEPTH.set(outbox.depth(self.deps.store))
        self.deliver_outside()
        try:
            journal.prune(self.deps.store, clock=self.deps.clock)
        except Exception:
            log.exception("pruning the command journal failed; the next tick tries again")
        tidied = registry.tidy(
            store=self.deps.store, clock=self.deps.clock, settings=self.deps.settings
        )
        if tidied.done:
            log.info("deploy housekeeping: %s", "; ".join(tidied.done))
        for problem in tidied.problems:
            log.warning("deploy housekeeping: %s", problem)
        if report.reminders or report.postmortem_reminders:
            log.info(
                "reminders sent: %s; postmortem reminders: %s",
                report.reminders,
                report.postmortem_reminders,
            )
        for problem in report.problems:
            log.warning("reminder problem: %s", problem)
        return report

    def deliver_outside(self) -> None:
        """The status page, pager and email: what is due (a retry, a rate limit's wait) is
        handed to the worker, one job per channel, so a slow relay never delays reminders."""
        if self.should_tick is not None and not self.should_tick():
            return
        try:
            if self.deps.comms.wake is not None:
                self.deps.comms.wake()
        except Exception:
            log.exception("deliveries outside Slack failed; the next tick tries again")
        finally:
            DELIVERIES_WAITING.set(deliveries.depth(self.deps.store))

    def _finish_war_rooms(self) -> None:
        """War rooms an outage left incomplete (no channel, or failed steps) are finished here."""
        now = self.deps.clock.now()
        due = lambda incident: self._war_rooms.due(incident.id, now)  # noqa: E731
        for report in resume_war_rooms(self.deps.war_room, due=due):
            if report.refused:  # the repair command's to retry, once fixed
                self._war_rooms.stop(report.incident.id)
            elif report.incomplete:
                self._war_rooms.failed(report.incident.id, now)
            else:
                self._war_rooms.succeeded(report.incident.id)
                log.info("war room of %s finished now that Slack answers", report.incident.id)

    def start(self) -> None:
        seconds = self.deps.settings.incidents.reminder_tick_seconds
        self._scheduler.add_job(
            self.run_tick,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id="reminder-tick",
            max_instances=1,  # a slow tick is never run twice at once
            coalesce=True,  # ticks missed while busy collapse into one
            next_run_time=datetime.now(UTC),
        )
        if self.deps.comms.configured:
            # Rate limits and retries wait seconds, not a reminder tick: deliveries are
            # looked at every DELIVERY_TICK (one indexed query when nothing is due).
            self._scheduler.add_job(
                self.deliver_outside,
                IntervalTrigger(seconds=DELIVERY_TICK_SECONDS, timezone=UTC),
                id="deliveries-tick",
                max_instances=1,
                coalesce=True,
            )
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
