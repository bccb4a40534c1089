"""The deliveries queue and its dispatcher: once, in order, durable, and never silent.

The channel here is a recording stand-in for an integration (the status page, PagerDuty
and SMTP ones are tested against their emulators / a real SMTP server in their own files);
the store, the timeline and the incident flows are the real ones.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.comms.deliveries import Delivery, Outgoing, State
from services.comms.dispatcher import GIVE_UP_AFTER, Checkpoint, Dispatcher, Sent, retry_wait
from services.comms.errors import Refused, RetryLater
from services.comms.hub import Comms
from services.comms.news import IncidentNews
from services.incidents import records
from services.incidents.declare import Declaration, declare
from services.incidents.lifecycle import post_update, resolve
from services.incidents.model import Severity, Status
from services.incidents.war_room import open_war_room

pytestmark = pytest.mark.unit


class Recorder:
    """A channel that records what it was asked and answers from a script of outcomes."""

    def __init__(self, name: str = "pager") -> None:
        self.name = name
        self.calls: list[tuple[int, str, bool]] = []
        self.script: list[Exception | None] = []

    def deliver(self, delivery: Delivery, *, resuming: bool, checkpoint: Checkpoint) -> Sent:
        self.calls.append((delivery.id, delivery.action, resuming))
        checkpoint("called")
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return Sent(summary=f"{delivery.action} done", link="https://example.test/x")


class Planner:
    """Plans one `notify` per news and one `open` per incident."""

    def plan(self, news: IncidentNews) -> list[Outgoing]:
        return [
            Outgoing(channel="pager", action="open", key="open", once_per_incident=True),
            Outgoing(channel="pager", action=f"notify_{news.occasion.value}", key="notify"),
        ]


def queue(deps: Deps, incident_id: str | None, key: str, action: str = "notify") -> None:
    deliveries.enqueue(
        deps.store,
        clock=deps.clock,
        incident_id=incident_id,
        outgoing=Outgoing(channel="pager", action=action, key=key),
        dedup_key=key,
    )


def dispatcher(deps: Deps, channel: Recorder, **kwargs: Any) -> Dispatcher:
    return Dispatcher(store=deps.store, clock=deps.clock, channels={"pager": channel}, **kwargs)


@pytest.fixture
def incident_ids(deps: Deps) -> list[str]:
    ids = []
    for title in ("Payments down", "Search slow"):
        result = declare(
            Declaration(
                title=title,
                severity=Severity.SEV1,
                impact="high",
                description="",
                commander=None,
                declared_by="console:alice",
                origin_channel_id=None,
            ),
            deps=deps.war_room,
        )
        ids.append(result.report.incident.id)
    return ids


def test_a_key_is_queued_once(deps: Deps) -> None:
    queue(deps, None, "k1")
    queue(deps, None, "k1")
    assert [d.dedup_key for d in deliveries.unfinished(deps.store)] == ["k1"]


def test_sent_deliveries_are_on_the_timeline_with_their_link(
    deps: Deps, incident_ids: list[str]
) -> None:
    channel = Recorder()
    queue(deps, incident_ids[0], "a", action="trigger")
    report = dispatcher(deps, channel).drain()
    assert len(report.sent) == 1
    [event] = [
        e
        for e in timeline.events(deps.store, incident_id=incident_ids[0])
        if e.kind == "comms_sent"
    ]
    assert event.text == "trigger done"
    assert event.data["link"] == "https://example.test/x"
    assert event.data["channel"] == "pager"
    stored = deliveries.get(deps.store, report.sent[0])
    assert stored.state is State.SENT
    assert stored.checkpoint == "called"
    # Drained again: nothing is sent twice.
    assert dispatcher(deps, channel).drain().sent == []
    assert len(channel.calls) == 1


def test_a_wait_holds_back_that_incidents_later_deliveries_only(
    deps: Deps, clock: ManualClock, incident_ids: list[str]
) -> None:
    first, second = incident_ids
    channel = Recorder()
    channel.script = [RetryLater("busy", after=timedelta(seconds=30))]
    queue(deps, first, "a1", action="open")
    queue(deps, first, "a2", action="update")
    queue(deps, second, "b1", action="open")
    runner = dispatcher(deps, channel)
    report = runner.drain()
    # a1 waits; a2 must not overtake it; b1 (another incident) goes on.
    assert [action for _, action, _ in channel.calls] == ["open", "open"]
    assert len(report.sent) == 1 and len(report.postponed) == 1
    assert runner.drain().sent == []  # not due yet
    clock.advance(timedelta(seconds=31))
    assert len(runner.drain().sent) == 2
    assert [action for _, action, _ in channel.calls][2:] == ["open", "update"]


def test_a_rate_limit_of_the_channel_holds_back_every_incident(
    deps: Deps, clock: ManualClock, incident_ids: list[str]
) -> None:
    channel = Recorder()
    channel.script = [RetryLater("429", after=timedelta(seconds=2), whole_channel=True)]
    queue(deps, incident_ids[0], "a1")
    queue(deps, incident_ids[1], "b1")
    runner = dispatcher(deps, channel)
    runner.drain()
    assert len(channel.calls) == 1
    clock.advance(timedelta(seconds=2))
    assert len(runner.drain().sent) == 2


def test_a_refusal_is_recorded_told_and_not_retried(deps: Deps, incident_ids: list[str]) -> None:
    told: list[tuple[int, str]] = []
    channel = Recorder()
    channel.script = [Refused("invalid routing key")]
    queue(deps, incident_ids[0], "a1", action="trigger")
    runner = dispatcher(deps, channel, on_failure=lambda d, error: told.append((d.id, error)))
    report = runner.drain()
    assert len(report.failed) == 1
    assert told == [(report.failed[0], "invalid routing key")]
    [event] = [
        e
        for e in timeline.events(deps.store, incident_id=incident_ids[0])
        if e.kind == "comms_failed"
    ]
    assert "invalid routing key" in event.text
    assert runner.drain().failed == []
    assert len(channel.calls) == 1


def test_retries_back_off_from_the_attempts_stored_and_give_up_after_a_day(
    deps: Deps, clock: ManualClock, incident_ids: list[str]
) -> None:
    channel = Recorder()
    channel.script = [RetryLater("down"), RetryLater("down")]
    queue(deps, incident_ids[0], "a1")
    runner = dispatcher(deps, channel)
    runner.drain()
    [waiting] = deliveries.unfinished(deps.store)
    assert waiting.not_before == clock.now() + retry_wait(1)
    clock.advance(retry_wait(1))
    runner.drain()
    [waiting] = deliveries.unfinished(deps.store)
    assert waiting.not_before == clock.now() + retry_wait(2)
    assert retry_wait(2) == 2 * retry_wait(1)
    assert retry_wait(50) == timedelta(minutes=10)
    clock.advance(GIVE_UP_AFTER)
    channel.script = [RetryLater("still down")]
    report = runner.drain()
    assert len(report.failed) == 1
    assert "gave up" in (deliveries.get(deps.store, report.failed[0]).error or "")


def test_a_delivery_cut_short_by_a_crash_is_resumed_with_its_checkpoint(
    deps: Deps, incident_ids: list[str]
) -> None:
    queue(deps, incident_ids[0], "a1")
    [queued] = deliveries.unfinished(deps.store)
    # The process that claimed it died mid-call, after its checkpoint.
    assert deliveries.claim(deps.store, clock=deps.clock, delivery=queued)
    deliveries.checkpoint(deps.store, queued.id, "sealed")
    channel = Recorder()
    dispatcher(deps, channel).drain()
    assert channel.calls == [(queued.id, "notify", True)]
    assert deliveries.get(deps.store, queued.id).state is State.SENT


def test_the_incident_flows_plan_each_news_once_whatever_the_replays(deps: Deps) -> None:
    channel = Recorder()
    comms = Comms(
        store=deps.store,
        clock=deps.clock,
        planners=[Planner()],
        dispatcher=dispatcher(deps, channel),
    )
    with_comms = dataclasses.replace(deps, comms=comms)
    result = declare(
        Declaration(
            title="Payments <!channel> down",
            severity=Severity.SEV1,
            impact="high",
            description="",
            commander=None,
            declared_by="console:alice",
            origin_channel_id=None,
            public="We are investigating.",
        ),
        deps=with_comms.war_room,
    )
    incident = result.report.incident
    # The war room flow run again (a resume after a crash) tells nothing new.
    open_war_room(incident, deps=dataclasses.replace(with_comms.war_room, resuming=True), actor="x")
    for _attempt in ("the request", "Slack's retry of the same request"):
        post_update(
            incident,
            deps=with_comms.war_room,
            actor="console:alice",
            status=Status.IDENTIFIED,
            message="internal: bob's deploy",
            eta=None,
            broadcast=True,
            request_key="T1",
            public="We found the cause.",
        )
    resolve(
        records.get(deps.store, incident.id),
        deps=with_comms.war_room,
        actor="console:alice",
        root_cause="cache",
        action_items=[],
        public="Fixed.",
    )
    comms.drain()
    actions = [action for _, action, _ in channel.calls]
    assert actions == ["open", "notify_declared", "notify_updated", "notify_resolved"]
    sent = [
        e for e in timeline.events(deps.store, incident_id=incident.id) if e.kind == "comms_sent"
    ]
    assert len(sent) == 4


def test_with_nothing_configured_nothing_is_queued(deps: Deps, incident_ids: list[str]) -> None:
    assert not deps.comms.configured
    assert deliveries.unfinished(deps.store) == []
    assert deps.comms.drain().sent == []
