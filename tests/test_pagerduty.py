"""Paging through PagerDuty's Events API v2: a real bot, the Slack emulator and the
PagerDuty emulator over real HTTP; what PagerDuty received, the timeline, the war room."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.comms.deliveries import State
from tests.harness.bot_actions import command
from tests.harness.pagerduty_emulator import PagerDutyEmulator, Received
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import TITLE, incident, start_incident_bot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV = "PAGERDUTY_ROUTING_KEY"
JSON = dict[str, Any]


@dataclass
class Paging:
    bot: RunningBot
    slack: SlackEmulator
    pd: PagerDutyEmulator
    clock: ManualClock
    key: str
    stopped: bool = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.bot.stop()

    def run(self, text: str, *, room: bool = True, user_id: str = "U0ALICE") -> JSON:
        channel = incident(self.bot).channel_id if room else "C0GENERAL"
        assert channel
        return command(self.bot, text, channel_id=channel, user_id=user_id)

    def declare(self, severity: str = "sev1", title: str = TITLE) -> JSON:
        reply = command(
            self.bot, f'incident create --severity={severity} --title="{title}" --impact=high'
        )
        self.drain()
        return reply

    def drain(self) -> None:
        self.bot.settle()
        self.bot.deps.comms.drain()
        self.bot.settle()

    def sent(self) -> list[Received]:
        return self.pd.accepted()

    def actions(self) -> list[tuple[str | None, str | None]]:
        return [(r.action, r.dedup_key) for r in self.sent()]

    def room_texts(self) -> list[str]:
        room = incident(self.bot).channel_id
        return [str(m.get("text", "")) for m in self.slack.messages(room)] if room else []

    def room_said(self) -> list[str]:
        """The text and the blocks: a refusal before the war room was complete is one line
        of the room's "some steps did not work" message (in its blocks)."""
        room = incident(self.bot).channel_id
        messages = self.slack.messages(room) if room else []
        return [f"{m.get('text', '')} {m.get('blocks', '')}" for m in messages]

    def timeline(self, kind: str) -> list[timeline.TimelineEvent]:
        return [
            e for e in timeline.events(self.bot.deps.store, incident_id="INC-1") if e.kind == kind
        ]


def start(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    pd: PagerDutyEmulator,
    monkeypatch: pytest.MonkeyPatch,
    services: dict[str, Any] | None = None,
    key: str | None = None,
    **pagerduty: Any,
) -> Paging:
    key = key or pd.add_routing_key()
    monkeypatch.setenv(ENV, key)
    bot = start_incident_bot(
        slack,
        tmp_path,
        clock,
        paging={"pagerduty": {"events_url": pd.url, **pagerduty}},
        services=services or {},
    )
    return Paging(bot=bot, slack=slack, pd=pd, clock=clock, key=key)


@pytest.fixture
def pd(clock: ManualClock) -> Iterator[PagerDutyEmulator]:
    with PagerDutyEmulator(clock=lambda: clock.now().timestamp()) as emulator:
        yield emulator


Starter = Callable[..., Paging]


@pytest.fixture
def start_paging(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    pd: PagerDutyEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Starter]:
    """Starts a bot paging the emulator (`services`, then `paging.pagerduty` keys); each
    is stopped at the end."""
    started: list[Paging] = []

    def starter(
        services: dict[str, Any] | None = None, key: str | None = None, **pagerduty: Any
    ) -> Paging:
        running = start(slack, tmp_path, clock, pd, monkeypatch, services, key, **pagerduty)
        started.append(running)
        return running

    yield starter
    for running in started:
        running.stop()


@pytest.fixture
def paging(start_paging: Starter) -> Paging:
    return start_paging()


# -- the incident's alert ---------------------------------------------------------------


def test_declaring_a_sev1_triggers_an_alert_keyed_by_the_incident(paging: Paging) -> None:
    paging.declare()
    (trigger,) = paging.sent()
    body = trigger.body
    assert body is not None
    assert body["routing_key"] == paging.key
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "INC-1"
    payload = body["payload"]
    assert payload["summary"] == f"INC-1 (SEV1): {TITLE}"
    assert payload["severity"] == "critical"
    assert payload["source"] == "hotfix-bot"
    inc = incident(paging.bot)
    details = payload["custom_details"]
    assert details["incident"] == "INC-1"
    assert details["severity"] == "SEV1"
    assert details["commander"] == "U0ALICE"
    assert details["war_room"] == f"#{inc.channel_name}"
    assert body["links"] == [
        {
            "href": f"https://slack.com/app_redirect?channel={inc.channel_id}",
            "text": f"War room #{inc.channel_name}",
        }
    ]
    assert trigger.headers["Content-Type"] == "application/json"
    alert = paging.pd.alert("INC-1")
    assert alert is not None and alert.status == "triggered"
    (sent,) = paging.timeline("comms_sent")
    assert sent.text == "Paged the on-call (PagerDuty alert INC-1 triggered, critical)"
    assert sent.data["channel"] == "pagerduty"


def test_first_update_acknowledges_once_then_resolution_resolves(paging: Paging) -> None:
    paging.declare()
    paging.run('incident update --status=identified --message="Bad deploy"')
    paging.drain()
    paging.run('incident update --message="Rolling back"')
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1"), ("acknowledge", "INC-1")]
    alert = paging.pd.alert("INC-1")
    assert alert is not None and alert.status == "acknowledged"
    paging.run('incident resolve --root-cause="bad deploy"')
    paging.drain()
    assert paging.actions()[-1] == ("resolve", "INC-1")
    assert alert.status == "resolved"
    assert [e.text for e in paging.timeline("comms_sent")] == [
        "Paged the on-call (PagerDuty alert INC-1 triggered, critical)",
        "PagerDuty alert INC-1 acknowledged (the on-call)",
        "PagerDuty alert INC-1 resolved (the on-call)",
    ]


def test_severity_change_re_triggers_with_the_new_severity(paging: Paging) -> None:
    paging.declare()
    paging.run("incident severity sev2")
    paging.drain()
    triggers = [r for r in paging.sent() if r.action == "trigger"]
    assert [t.body["payload"]["severity"] for t in triggers if t.body] == ["critical", "error"]
    assert {t.dedup_key for t in triggers} == {"INC-1"}
    assert triggers[1].body and triggers[1].body["payload"]["summary"].startswith("INC-1 (SEV2)")
    # One alert: the second trigger was deduplicated into it, and the change (an action
    # after the declaration) acknowledged it.
    assert len(paging.pd.alerts) == 1
    assert paging.actions()[-1] == ("acknowledge", "INC-1")
    texts = [e.text for e in paging.timeline("comms_sent")]
    assert "PagerDuty alert INC-1 re-triggered for the on-call: now SEV2 (error)" in texts


def test_sev3_with_default_config_pages_nobody_until_raised(
    paging: Paging,
) -> None:
    paging.declare("sev3")
    paging.run('incident update --message="Looking"')
    paging.drain()
    assert paging.pd.requests == []
    paging.run("incident severity sev1")
    paging.drain()
    # The raise pages like a declaration; the next action acknowledges, as after one.
    assert paging.actions() == [("trigger", "INC-1")]
    (sent,) = paging.timeline("comms_sent")
    assert (
        sent.text == "Paged the on-call (PagerDuty alert INC-1 triggered: raised to SEV1, critical)"
    )
    paging.run('incident update --message="On it"')
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1"), ("acknowledge", "INC-1")]


def test_page_on_declare_and_severities_are_configurable(start_paging: Starter) -> None:
    paging = start_paging(
        page_on_declare=["sev3"], severities={"sev3": "info"}, source="hotfix-bot.example.com"
    )
    paging.declare("sev3")
    (trigger,) = paging.sent()
    assert trigger.body and trigger.body["payload"]["severity"] == "info"
    assert trigger.body["payload"]["source"] == "hotfix-bot.example.com"


def test_no_paging_configured_changes_nothing(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock, pd: PagerDutyEmulator
) -> None:
    bot = start_incident_bot(slack, tmp_path, clock)
    try:
        command(bot, 'incident create --severity=sev1 --title="x" --impact=high')
        bot.settle()
        assert pd.requests == []
        assert deliveries.for_incident(bot.deps.store, "INC-1") == []
        room = incident(bot).channel_id
        assert room
        reply = command(bot, "page <@U0BOB>", channel_id=room)
        assert "Paging is not configured." in str(reply)
        assert "paging: pagerduty:" in str(reply)
    finally:
        bot.stop()


# -- errors and rate limits ------------------------------------------------------------


def test_a_refused_event_is_told_in_the_war_room_and_not_retried(paging: Paging) -> None:
    paging.pd.fail_next(400, errors=["'payload.summary' is missing or blank"])
    paging.declare()
    paging.clock.advance(timedelta(hours=1))
    paging.drain()
    assert len(paging.pd.requests) == 1
    (failed,) = paging.timeline("comms_failed")
    assert "'payload.summary' is missing or blank" in failed.text
    said = [t for t in paging.room_said() if "failed and will not be retried" in t]
    assert len(said) == 1
    assert "PagerDuty refused the event: 'payload.summary' is missing or blank" in said[0]
    assert "page with /hotfix page" in said[0]


def test_rate_limited_events_are_sent_later_without_retry_after(paging: Paging) -> None:
    paging.pd.fail_next(429)
    paging.declare()
    assert paging.sent() == []
    (waiting,) = deliveries.unfinished(paging.bot.deps.store)
    assert waiting.not_before is not None
    assert waiting.not_before - paging.clock.now() >= timedelta(seconds=30)
    paging.drain()
    assert len(paging.pd.requests) == 1  # not before its time
    paging.clock.advance(timedelta(seconds=31))
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1")]
    assert paging.timeline("comms_failed") == []


def test_retry_after_is_honoured_when_given(paging: Paging) -> None:
    paging.pd.fail_next(429, retry_after="120")
    paging.declare()
    (waiting,) = deliveries.unfinished(paging.bot.deps.store)
    assert waiting.not_before == paging.clock.now() + timedelta(seconds=120)


def test_the_emulators_own_limit_is_honoured(paging: Paging) -> None:
    paging.pd.limit_per_minute = 1
    paging.declare()
    paging.run('incident update --message="first"')
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1")]
    assert paging.pd.requests[-1].status == 429
    paging.clock.advance(timedelta(seconds=61))
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1"), ("acknowledge", "INC-1")]


def test_server_errors_and_outages_are_retried(paging: Paging) -> None:
    paging.pd.fail_next(503, times=2)
    paging.declare()
    for _ in range(2):
        paging.clock.advance(timedelta(minutes=1))
        paging.drain()
    assert paging.actions() == [("trigger", "INC-1")]
    assert [r.status for r in paging.pd.requests] == [503, 503, 202]


def test_a_missing_routing_key_is_reported_with_what_to_do(
    paging: Paging, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    paging.declare()
    assert paging.pd.requests == []
    said = [t for t in paging.room_said() if "will not be retried" in t]
    assert len(said) == 1 and f"{ENV} is not set" in said[0]


# -- exactly once -------------------------------------------------------------------------


def test_replayed_requests_and_restarts_send_nothing_twice(start_paging: Starter) -> None:
    paging = start_paging()
    paging.declare()
    room = incident(paging.bot).channel_id
    assert room
    paging.pd.fail_next(503)  # the acknowledge waits in the queue, the page behind it
    update = paging.bot.driver.slash('incident update --message="looking"', channel_id=room)
    # Each command is handled on the bot's worker: the update's acknowledge is queued before
    # the page is sent, as a person typing one after the other would see it (two commands in
    # flight at once may queue in either order on a busy machine).
    paging.bot.settle()
    page = paging.bot.driver.slash('page --message="need a hand"', channel_id=room)
    paging.drain()
    # Slack retries the same requests (same trigger ids): nothing new is planned.
    paging.bot.driver.replay(update, retry_num=1)
    paging.bot.driver.replay(page, retry_num=1)
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1")]
    paging.stop()
    # A restart over the same store delivers what was queued, once.
    paging = start_paging(key=paging.key)
    paging.clock.advance(timedelta(minutes=5))
    paging.drain()
    paging.drain()
    (paged,) = paging.timeline("paged")
    assert paging.actions() == [
        ("trigger", "INC-1"),
        ("acknowledge", "INC-1"),
        ("trigger", f"INC-1/page/{paged.id}"),
    ]
    alert = paging.pd.alert("INC-1")
    assert alert is not None and alert.status == "acknowledged"
    assert len([t for t in paging.room_texts() if "through PagerDuty" in t]) == 1
    assert len(paging.timeline("comms_sent")) == 3


def test_a_delivery_cut_short_by_a_crash_is_sent_again_and_deduplicated(paging: Paging) -> None:
    paging.declare()
    store = paging.bot.deps.store
    (sent,) = deliveries.for_incident(store, "INC-1")
    # As if the bot died after PagerDuty took the event and before it was recorded.
    store.conn.execute("UPDATE deliveries SET state = 'sending' WHERE id = ?", (sent.id,))
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1"), ("trigger", "INC-1")]
    assert len(paging.pd.alerts) == 1  # the same alert: nobody is notified twice
    assert deliveries.get(store, sent.id).state is State.SENT


# -- secrets ---------------------------------------------------------------------------------


def test_the_routing_key_is_never_logged_stored_or_posted(
    paging: Paging, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    paging.pd.fail_next(500, times=1)
    paging.declare()
    paging.clock.advance(timedelta(minutes=1))
    paging.pd.fail_next(400, errors=[f"bad key {paging.key}"])  # an answer quoting the key
    paging.run('incident update --message="x"')
    paging.drain()
    key = paging.key
    assert key not in caplog.text
    store = paging.bot.deps.store
    for table in ("deliveries", "timeline"):
        for row in store.query(f"SELECT * FROM {table}"):
            assert key not in str(dict(row)), table
    for call in paging.slack.calls:
        assert key not in str(call)
    (failed,) = paging.timeline("comms_failed")
    assert "[routing key]" in failed.text


def test_a_declaration_pages_even_when_slack_cannot_open_the_war_room(
    paging: Paging, clock: ManualClock
) -> None:
    # Slack is down: no war room, no channel. The page must not wait for Slack.
    paging.slack.outage(503)
    command(paging.bot, f'incident create --severity=sev1 --title="{TITLE}" --impact=high')
    paging.drain()
    assert paging.actions() == []  # waiting a moment for the war room, to link it
    clock.advance(timedelta(seconds=10))
    paging.drain()
    assert paging.actions() == [("trigger", "INC-1")]
    (trigger,) = paging.sent()
    assert trigger.body is not None
    assert "war_room" not in trigger.body["payload"]["custom_details"]
    assert incident(paging.bot).channel_id is None


def test_the_page_links_the_war_room_as_soon_as_it_exists(paging: Paging) -> None:
    paging.declare()
    (trigger,) = paging.sent()
    assert trigger.body is not None
    room = incident(paging.bot).channel_id
    assert trigger.body["links"][0]["href"].endswith(f"channel={room}")
