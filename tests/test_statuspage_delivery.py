"""The status page's deliveries under trouble: a page that is down, a rate limit, a restart
mid-queue, a crash between a call and its record, refusals, hostile words, secrets."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.comms.deliveries import Delivery, State
from services.comms.dispatcher import Dispatcher
from services.comms.registry import BuildContext, build_comms
from services.comms.statuspage.channel import CALLING, StatuspageChannel, metadata_marker
from services.comms.statuspage.client import StatuspageClient
from services.incidents import records
from services.incidents.model import Status
from services.store import Store
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.statuspage_emulator import StatuspageEmulator

from .test_incidents_e2e import start_incident_bot
from .test_statuspage import (
    INTERNAL,
    KEY,
    PAGE,
    PAYMENTS,
    comms_events,
    declare_incident,
    hold,
    resolve,
    spbot,
    statuspage_settings,
    update,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

__all__ = ["spbot"]  # the fixture, with this module's `page` (its rate-limit clock)


@pytest.fixture
def page_time() -> list[float]:
    return [1000.0]


@pytest.fixture
def page(page_time: list[float]) -> Iterator[StatuspageEmulator]:
    emulator = StatuspageEmulator(api_keys=(KEY,), clock=lambda: page_time[0])
    emulator.add_page(PAGE, {PAYMENTS: "Payments"})
    with emulator:
        yield emulator


def drain_after_restart(bot: RunningBot, times: int = 1) -> None:
    """What a restarted bot does: a new store connection, dispatcher and channel, draining."""
    deps = bot.deps
    store = Store(deps.settings.store.path)
    try:
        for _ in range(times):
            build_comms(
                BuildContext(
                    settings=deps.settings,
                    store=store,
                    clock=deps.clock,
                    templates=deps.renderer,
                    environ=os.environ,
                    chat=deps.chat,
                )
            ).drain()
    finally:
        store.close()


def statuspage_deliveries(bot: RunningBot, incident_id: str = "INC-1") -> list[Delivery]:
    return [
        d for d in deliveries.for_incident(bot.deps.store, incident_id) if d.channel == "statuspage"
    ]


# -- a page that is down ----------------------------------------------------------------


def test_a_page_that_is_down_does_not_block_the_war_room_and_gets_it_later(
    spbot: RunningBot, page: StatuspageEmulator, clock: ManualClock
) -> None:
    page.fail_next(503, count=2)
    incident = declare_incident(spbot, public="Payments are failing.")
    # The war room is complete; the opening waits in the queue.
    assert incident.channel_id and incident.header_ts
    (waiting,) = statuspage_deliveries(spbot)
    assert waiting.state is State.QUEUED and waiting.not_before is not None
    assert "503" in (waiting.error or "")
    assert comms_events(spbot) == []

    spbot.deps.comms.drain()  # not due yet: nothing is asked of the page
    assert [r.status for r in page.requests] == [503]

    clock.advance(timedelta(seconds=6))
    spbot.deps.comms.drain()
    assert [r.status for r in page.requests] == [503, 503]
    clock.advance(timedelta(seconds=11))
    spbot.deps.comms.drain()
    # A 5xx may come after the page acted: each retry looks for the incident (by the
    # delivery's metadata) before opening it.
    assert [(r.method, r.status) for r in page.requests] == [
        ("POST", 503),
        ("GET", 503),
        ("GET", 200),
        ("POST", 201),
    ]
    assert len(page.incidents(PAGE)) == 1
    assert [e.text for e in comms_events(spbot)] == ["Status page incident opened (Investigating)"]


def test_an_opening_answered_with_an_error_after_the_page_acted_is_adopted_not_repeated(
    spbot: RunningBot, page: StatuspageEmulator, clock: ManualClock
) -> None:
    page.fail_after_acting(504)
    declare_incident(spbot, public="Payments are failing.")
    assert len(page.incidents(PAGE)) == 1  # the page did open it; the bot was told 504
    clock.advance(timedelta(seconds=6))
    spbot.deps.comms.drain()
    assert len(page.incidents(PAGE)) == 1
    assert [(r.method, r.status) for r in page.requests] == [("POST", 504), ("GET", 200)]
    assert [e.text for e in comms_events(spbot)] == ["Status page incident opened (Investigating)"]


def test_an_update_answered_with_an_error_after_the_page_acted_is_not_posted_twice(
    spbot: RunningBot, page: StatuspageEmulator, clock: ManualClock
) -> None:
    incident = declare_incident(spbot, public="Payments are failing.")
    page.fail_after_acting(500)
    update(spbot, incident.id, status=Status.IDENTIFIED, public="We found it.", key="u1")
    clock.advance(timedelta(seconds=6))
    spbot.deps.comms.drain()
    bodies = [u["body"] for u in page.incidents(PAGE)[0]["incident_updates"]]
    assert sum(body.startswith("We found it.") for body in bodies) == 1
    assert [r.method for r in page.writes()] == ["POST"]  # the PATCH was answered 500
    assert page.requests[-1].method == "GET"  # read back, found applied, not sent again


# -- rate limits -----------------------------------------------------------------------


@pytest.mark.parametrize("refusal", [429, 420])
def test_a_rate_limit_holds_the_channel_until_retry_after(
    spbot: RunningBot,
    page: StatuspageEmulator,
    page_time: list[float],
    clock: ManualClock,
    refusal: int,
) -> None:
    page.limit, page.window, page.rate_limit_status = 1, 30.0, refusal
    incident = declare_incident(spbot, public="Payments are failing.")
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    # The opening took the window's one request; the update was refused once, not stormed.
    assert [r.status for r in page.requests] == [201, refusal]
    assert page.rate_limited == 1
    (_, waiting) = statuspage_deliveries(spbot)
    assert waiting.state is State.QUEUED
    assert waiting.not_before == clock.now() + timedelta(seconds=30)

    for _ in range(5):  # drains before Retry-After ask nothing
        spbot.deps.comms.drain()
    assert page.rate_limited == 1 and len(page.requests) == 2

    page_time[0] += 30
    clock.advance(timedelta(seconds=30))
    spbot.deps.comms.drain()
    assert [r.status for r in page.requests] == [201, refusal, 200]
    assert page.incidents(PAGE)[0]["status"] == "identified"


def test_a_paced_status_page_delivery_goes_back_to_the_queue_instead_of_blocking_the_drain(
    spbot: RunningBot, page: StatuspageEmulator, clock: ManualClock
) -> None:
    """The dispatcher delivers one delivery after another: a status page waiting for its
    pace hands its turn back (held until then) rather than sleeping in the drain."""
    now = [0.0]
    hold(spbot)
    for n in range(2):
        declare_incident(spbot, public="Payments are failing.", key=f"declare-{n}")
    settings = spbot.deps.settings.statuspage
    assert settings is not None
    channel = StatuspageChannel(
        client=StatuspageClient(
            api_url=page.api_url,
            page_id=PAGE,
            api_key=KEY,
            requests_per_second=1.0,
            monotonic=lambda: now[0],
            sleep=lambda seconds: pytest.fail(f"slept {seconds} s in the drain"),
        ),
        store=spbot.deps.store,
        clock=clock,
    )
    dispatcher = Dispatcher(store=spbot.deps.store, clock=clock, channels={"statuspage": channel})
    report = dispatcher.drain()
    assert (len(report.sent), len(report.postponed)) == (1, 1)
    (waiting,) = [d for d in deliveries.unfinished(spbot.deps.store)]
    assert waiting.not_before == clock.now() + timedelta(seconds=1)
    assert "paced to 1 request(s) per second" in (waiting.error or "")
    assert page.rate_limited == 0 and len(page.requests) == 1

    now[0] += 1.0
    clock.advance(timedelta(seconds=1))
    assert len(dispatcher.drain().sent) == 1
    assert [r.method for r in page.writes()] == ["POST", "POST"]


# -- restarts and crashes ---------------------------------------------------------------


def test_a_restart_mid_queue_delivers_each_once(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    hold(spbot)
    incident = declare_incident(spbot, public="Payments are failing.")
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    assert page.requests == [] and len(statuspage_deliveries(spbot)) == 2

    drain_after_restart(spbot, times=2)  # and once more, after another restart
    assert [(r.method, r.incident["status"]) for r in page.writes()] == [
        ("POST", "investigating"),
        ("PATCH", "identified"),
    ]
    assert {d.state for d in statuspage_deliveries(spbot)} == {State.SENT}


def test_a_crash_after_the_create_call_adopts_the_incident_instead_of_opening_another(
    spbot: RunningBot, page: StatuspageEmulator, slack: SlackEmulator
) -> None:
    hold(spbot)
    incident = declare_incident(spbot, public="Payments are failing.")
    (queued,) = statuspage_deliveries(spbot)
    # The dead process: claimed the delivery, made the call, never recorded it.
    assert deliveries.claim(spbot.deps.store, clock=spbot.deps.clock, delivery=queued)
    deliveries.checkpoint(spbot.deps.store, queued.id, CALLING)
    made = StatuspageClient(api_url=page.api_url, page_id=PAGE, api_key=KEY).create_incident(
        {
            "name": queued.payload["name"],
            "status": "investigating",
            "body": queued.payload["body"],
            "components": queued.payload["components"],
            "metadata": metadata_marker(queued),
        }
    )

    drain_after_restart(spbot)
    assert len(page.incidents(PAGE)) == 1
    assert [r.method for r in page.writes()] == ["POST"]  # only the dead process's call
    assert page.requests[-1].path == f"/v1/pages/{PAGE}/incidents/unresolved"
    link = deliveries.get_link(spbot.deps.store, incident.id, "statuspage")
    assert link is not None and (link.external_id, link.url) == (made["id"], made["shortlink"])
    assert deliveries.get(spbot.deps.store, queued.id).state is State.SENT
    assert incident.channel_id is not None
    assert made["shortlink"] in [b["link"] for b in slack.bookmarks(incident.channel_id)]


def claimed_update(bot: RunningBot, *, status: Status, public: str) -> Delivery:
    """A public incident, then an update claimed by a process that dies (not delivered)."""
    incident = declare_incident(bot, public="Payments are failing.")
    hold(bot)
    update(bot, incident.id, status=status, public=public, key="u1")
    (_, queued) = statuspage_deliveries(bot)
    assert deliveries.claim(bot.deps.store, clock=bot.deps.clock, delivery=queued)
    return queued


def crash_after_the_update_call(spbot: RunningBot, page: StatuspageEmulator) -> Delivery:
    """The dead process claimed the update, made its call, and never recorded it."""
    queued = claimed_update(spbot, status=Status.IDENTIFIED, public="We found it.")
    deliveries.checkpoint(spbot.deps.store, queued.id, CALLING)
    public_id = page.incidents(PAGE)[0]["id"]
    StatuspageClient(api_url=page.api_url, page_id=PAGE, api_key=KEY).update_incident(
        public_id,
        {
            "status": "identified",
            "body": queued.payload["body"],
            "metadata": metadata_marker(queued),
        },
    )
    return queued


def test_a_crash_after_an_update_call_does_not_post_it_twice(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    queued = crash_after_the_update_call(spbot, page)
    drain_after_restart(spbot)
    assert [r.method for r in page.writes()] == ["POST", "PATCH"]
    assert page.requests[-1].method == "GET"  # it looked before acting
    bodies = [u["body"] for u in page.incidents(PAGE)[0]["incident_updates"]]
    assert queued.payload["body"].startswith("We found it.")
    assert bodies.count(queued.payload["body"]) == 1
    assert deliveries.get(spbot.deps.store, queued.id).state is State.SENT


def test_without_metadata_a_resumed_update_is_recognised_by_its_incident_update(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    """A compatible page that keeps no metadata: the incident's latest update tells."""
    page.keeps_metadata = False
    queued = crash_after_the_update_call(spbot, page)
    drain_after_restart(spbot)
    assert [r.method for r in page.writes()] == ["POST", "PATCH"]
    assert page.incidents(PAGE)[0]["metadata"] == {}
    assert deliveries.get(spbot.deps.store, queued.id).state is State.SENT


def test_a_crash_before_an_update_call_sends_it_once_on_resume(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    claimed_update(spbot, status=Status.MONITORING, public="Fix deployed.")

    drain_after_restart(spbot)
    assert [(r.method, r.incident["body"].split("\n")[0]) for r in page.writes()] == [
        ("POST", "Payments are failing."),
        ("PATCH", "Fix deployed."),
    ]


def test_a_replayed_resolution_resolves_the_page_once(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    incident = declare_incident(spbot, public="Payments are failing.")
    resolve(spbot, incident.id)
    event = timeline.latest(spbot.deps.store, incident_id=incident.id, kind="resolved")
    assert event is not None
    from services.comms.news import Occasion
    from services.incidents.outside import tell_outside

    resolved = records.get(spbot.deps.store, incident.id)
    tell_outside(Occasion.RESOLVED, resolved, event, spbot.deps.war_room)  # the journal's replay
    spbot.settle()
    spbot.deps.comms.drain()
    assert [r.incident["status"] for r in page.writes()] == ["investigating", "resolved"]


def test_a_replayed_declaration_after_updates_plans_nothing_new(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    from services.incidents.outside import declared_outside

    incident = declare_incident(spbot, public="Payments are failing.")
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    before = len(deliveries.for_incident(spbot.deps.store, incident.id))
    declared_outside(records.get(spbot.deps.store, incident.id), spbot.deps.war_room)
    spbot.settle()
    spbot.deps.comms.drain()
    assert len(deliveries.for_incident(spbot.deps.store, incident.id)) == before == 2
    assert [r.method for r in page.writes()] == ["POST", "PATCH"]


# -- refusals ----------------------------------------------------------------------------


BotWith = Callable[..., RunningBot]


@pytest.fixture
def bot_with(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BotWith]:
    """Starts bots (each with its own store) with this key and these statuspage settings."""
    started: list[RunningBot] = []

    def make(*, key: str = KEY, **overrides: object) -> RunningBot:
        home = tmp_path / f"bot-{len(started)}"
        home.mkdir()
        monkeypatch.setenv("STATUSPAGE_API_KEY", key)
        settings = statuspage_settings(page, **overrides)
        started.append(start_incident_bot(slack, home, clock, statuspage=settings))
        return started[-1]

    yield make
    for bot in started:
        bot.stop()


def test_a_wrong_key_is_refused_and_said_in_the_war_room(
    bot_with: BotWith,
    page: StatuspageEmulator,
    slack: SlackEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sp-revoked-key-77aa"
    bot = bot_with(key=wrong)
    incident = declare_incident(bot, public="Payments are failing.")
    assert [r.status for r in page.requests] == [401]
    (failed,) = comms_events(bot)
    assert failed.kind == "comms_failed"
    assert "401: Could not authenticate" in failed.text
    assert "statuspage.api_key_env" in failed.text
    assert incident.channel_id is not None
    said = " ".join(
        f"{m.get('text', '')} {m.get('blocks', '')}" for m in slack.messages(incident.channel_id)
    )
    assert "failed and will not be retried" in said and "api_key_env" in said
    assert page.requests[0].authorization == f"OAuth {wrong}"
    # The key is never logged, posted, or stored.
    assert wrong not in caplog.text
    assert wrong not in said
    dump = "\n".join(str(r) for r in bot.deps.store.query("SELECT * FROM deliveries"))
    dump += "\n".join(str(r) for r in bot.deps.store.query("SELECT * FROM timeline"))
    assert wrong not in dump


def test_an_unknown_page_or_component_is_refused_with_what_to_check(
    bot_with: BotWith, page: StatuspageEmulator
) -> None:
    bot = bot_with(components={"payments": "nosuchcomp1"})
    declare_incident(bot, public="Payments are failing.")
    (failed,) = comms_events(bot)
    assert [r.status for r in page.requests] == [422]
    assert "422: Component 'nosuchcomp1' is not on this page" in failed.text
    assert "statuspage.components" in failed.text

    bot = bot_with(page_id="nosuchpage")
    declare_incident(bot, public="Payments are failing.")
    (failed,) = comms_events(bot)
    assert "404" in failed.text and "statuspage.page_id" in failed.text


def test_a_missing_key_is_a_clear_refusal(bot_with: BotWith, page: StatuspageEmulator) -> None:
    bot = bot_with(key="")
    declare_incident(bot, public="Payments are failing.")
    assert page.requests == []
    (failed,) = comms_events(bot)
    assert "STATUSPAGE_API_KEY is not set" in failed.text


def test_updates_after_a_failed_opening_say_why(
    bot_with: BotWith, page: StatuspageEmulator
) -> None:
    bot = bot_with(components={"payments": "nosuchcomp1"})
    incident = declare_incident(bot, public="Payments are failing.")
    update(bot, incident.id, status=Status.IDENTIFIED, key="u1")
    assert [r.method for r in page.requests] == ["POST"]  # no words: nothing to open
    update(bot, incident.id, public="Still failing.", key="u2")
    # Words typed for customers after a failed opening are a new, deliberate try.
    assert [r.method for r in page.requests] == ["POST", "POST"]
    assert [e.kind for e in comms_events(bot)] == ["comms_failed", "comms_failed"]


# -- hostile words ------------------------------------------------------------------------


def test_hostile_public_words_arrive_as_typed_and_oversized_ones_are_cut(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    hostile = (
        "<script>alert(1)</script> <@U0ALICE> <!channel> @here **bold** [x](http://evil)"
        " \u202eRTL\u202c\n\nline two " + "x" * 10_000
    )
    incident = declare_incident(spbot, public=hostile)
    update(spbot, incident.id, public="y" * 30_000, key="u1")
    opened, updated = page.writes()
    assert opened.incident["body"].startswith(hostile)
    assert len(updated.incident["body"]) == 25_000 and updated.incident["body"].endswith("…")
    assert [r.status for r in page.requests] == [201, 200]  # no 422
    assert INTERNAL not in str(opened.body)
