"""Delivering the queue: each due delivery through its channel, once, in order.

Order: per incident and channel, deliveries go out in the order they were planned (a
status page update never overtakes the incident it updates); a delivery that must wait
holds back the ones after it. A rate limit of the whole channel (`RetryLater(
whole_channel=True)`) holds back the channel. Everything sent is written on the incident's
timeline (kind `comms_sent`, with what the channel says it did); what failed for good is
written too (`comms_failed`) and told to the war room through `on_failure`.

A delivery found `sending` (the bot stopped mid-call) is given to its channel with
`resuming=True`: the channel looks for the effect of the call it may have made (a status
page incident carrying the delivery's id, a sealed email) before making it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from services import timeline
from services.clock import Clock
from services.comms import deliveries
from services.comms.deliveries import Delivery, State
from services.comms.errors import CommsError, Refused, RetryLater
from services.metrics import DELIVERIES
from services.store import Store

log = logging.getLogger(__name__)

# A delivery that keeps failing is retried less and less often (from the attempts stored,
# so a restart keeps the pace), up to RETRY_CAP, for GIVE_UP_AFTER.
FIRST_RETRY = timedelta(seconds=5)
RETRY_CAP = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Sent:
    """What a channel did: `summary` is the timeline's sentence ("Status page incident
    opened"), `link` a URL people may follow, `result` what later deliveries need."""

    summary: str
    link: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


class Checkpoint(Protocol):
    def __call__(self, mark: str) -> None: ...


class Channel(Protocol):
    """One integration's way out. `deliver` makes the call (or finds that it was made)."""

    name: str

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent: ...


FailureReport = Callable[[Delivery, str], None]


@dataclass
class DrainReport:
    sent: list[int] = field(default_factory=list)
    postponed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def retry_wait(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: 5 s, 10 s, 20 s … up to RETRY_CAP."""
    wait: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16)
    return min(wait, RETRY_CAP)


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        channels: Mapping[str, Channel],
        on_failure: FailureReport | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.channels = dict(channels)
        self.on_failure = on_failure
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._again: dict[str, threading.Event] = {}

    def drain(self, channel: str | None = None) -> DrainReport:
        """Deliver everything due (of one channel, or of each in turn).

        Channels are drained independently (a mail relay slow to answer holds back email
        only, never the status page). Within a channel, a drain asked for while one runs
        makes that one go round again instead of running beside it: one delivery is never
        made twice at once.
        """
        report = DrainReport()
        for name in [channel] if channel is not None else list(self.channels):
            if name in self.channels:
                self._drain_channel(name, report)
        return report

    def busy(self, name: str) -> bool:
        """A drain of `name` runs now; asking for another makes it go round once more."""
        with self._guard:
            lock = self._locks.get(name)
            if lock is None or not lock.locked():
                return False
            self._again.setdefault(name, threading.Event()).set()
            return True

    def _drain_channel(self, name: str, report: DrainReport) -> None:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
            again = self._again.setdefault(name, threading.Event())
        if not lock.acquire(blocking=False):
            again.set()
            return
        try:
            while True:
                again.clear()
                self._drain_once(name, report)
                if not again.is_set():
                    return
        finally:
            lock.release()

    def _drain_once(self, name: str, report: DrainReport) -> None:
        now = self.clock.now()
        channel = self.channels[name]
        held: set[str | None] = set()  # incidents whose next delivery must wait
        for delivery in deliveries.unfinished(self.store, channel=name):
            if delivery.incident_id in held:
                continue
            if delivery.not_before is not None and delivery.not_before > now:
                held.add(delivery.incident_id)
                continue
            outcome = self._deliver(channel, delivery)
            DELIVERIES.labels(name, outcome if outcome in ("sent", "failed") else "postponed").inc()
            if outcome == "sent":
                report.sent.append(delivery.id)
            elif outcome == "failed":
                report.failed.append(delivery.id)
            else:
                report.postponed.append(delivery.id)
                held.add(delivery.incident_id)
                if outcome == "channel":
                    return  # the channel's own limit: nothing else goes to it before then

    def _deliver(self, channel: Channel, delivery: Delivery) -> str:
        # Looked for before it is made again: a call cut short by a crash (`sending`), and a
        # call tried before (a timeout or a 5xx may come after the provider acted).
        resuming = delivery.state is State.SENDING or delivery.attempts > 0
        if not deliveries.claim(self.store, clock=self.clock, delivery=delivery):
            return "postponed"  # another runner has it
        mark: Checkpoint = lambda text: deliveries.checkpoint(self.store, delivery.id, text)  # noqa: E731
        try:
            sent = channel.deliver(delivery, resuming=resuming, checkpoint=mark)
        except RetryLater as exc:
            return self._postpone(delivery, exc)
        except Refused as exc:
            # What to do, when the channel knows it (a key to set, a component id to fix),
            # goes wherever the refusal is told: the timeline and the war room.
            self._fail(delivery, f"{exc.message} {exc.hint}" if exc.hint else exc.message)
            return "failed"
        except CommsError as exc:
            return self._postpone(delivery, RetryLater(exc.message))
        except Exception as exc:
            log.exception("delivery %s (%s) failed", delivery.id, delivery.channel)
            return self._postpone(delivery, RetryLater(f"{type(exc).__name__}: {exc}"))
        self._record_sent(delivery, sent)
        return "sent"

    def _postpone(self, delivery: Delivery, exc: RetryLater) -> str:
        now = self.clock.now()
        if now - delivery.queued_at > GIVE_UP_AFTER:
            self._fail(delivery, f"{exc.message} (gave up after {GIVE_UP_AFTER})")
            return "failed"
        until = now + (exc.after if exc.after is not None else retry_wait(delivery.attempts + 1))
        deliveries.postpone(self.store, delivery_id=delivery.id, until=until, error=exc.message)
        log.warning(
            "delivery %s (%s %s) postponed until %s: %s",
            delivery.id,
            delivery.channel,
            delivery.action,
            until,
            exc.message,
        )
        return "channel" if exc.whole_channel else "postponed"

    def _record_sent(self, delivery: Delivery, sent: Sent) -> None:
        self._finish(
            delivery,
            state=State.SENT,
            kind="comms_sent",
            text=sent.summary,
            link=sent.link,
            result={**sent.result, "summary": sent.summary, "link": sent.link},
        )

    def _fail(self, delivery: Delivery, error: str) -> None:
        self._finish(
            delivery,
            state=State.FAILED,
            kind="comms_failed",
            text=f"{delivery.channel} {delivery.action} failed: {error}",
            error=error,
        )
        log.error(
            "delivery %s (%s %s) failed: %s", delivery.id, delivery.channel, delivery.action, error
        )
        if self.on_failure is not None:
            try:
                self.on_failure(delivery, error)
            except Exception:
                log.exception("reporting the failure of delivery %s failed", delivery.id)

    def _finish(
        self,
        delivery: Delivery,
        *,
        state: State,
        kind: str,
        text: str,
        link: str | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """The delivery's outcome and its timeline event, in one transaction."""
        data = self._event_data(delivery, link=link) | ({"error": error} if error else {})
        with self.store.transaction():
            deliveries.finish(
                self.store,
                clock=self.clock,
                delivery_id=delivery.id,
                state=state,
                result=result,
                error=error,
            )
            if delivery.incident_id:
                timeline.append(
                    self.store,
                    clock=self.clock,
                    incident_id=delivery.incident_id,
                    actor=timeline.BOT_ACTOR,
                    kind=kind,
                    text=text,
                    data=data,
                    dedup_key=f"delivery:{delivery.id}",
                )

    @staticmethod
    def _event_data(delivery: Delivery, *, link: str | None) -> dict[str, Any]:
        return {
            "delivery": delivery.id,
            "channel": delivery.channel,
            "action": delivery.action,
            "audience": delivery.audience,
            "link": link,
        }
