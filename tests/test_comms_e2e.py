"""Issue 13's "Done when": a SEV1 told to every audience, once each, in order, through a
restart and a replay.

A real bot process (HTTP mode) talks real HTTP to the Slack emulator, the Statuspage and
PagerDuty emulators, and real SMTP to aiosmtpd. The incident is declared with customer
words, updated twice (the second a --broadcast), pages a service's on-call and is
resolved; between the first and the second update the bot is SIGKILLed and started
again, and Slack's retry of the first update reaches the new process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import timeline
from services.comms import deliveries
from services.store import Store
from tests.harness.bot_process import BotProcess
from tests.harness.email_fixtures import CUSTOMERS, EXECS, SUPPORT, email_settings
from tests.harness.pagerduty_emulator import PagerDutyEmulator
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.smtp_server import Received, SmtpServer
from tests.harness.statuspage_emulator import StatuspageEmulator
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGE = "pg0payments"
COMPONENT = "cmp0payments"
API_KEY = "sp-test-key"
ROOM_PREFIX = "inc-1-"
SECRET_NOTE = "card router deploy by bob broke tokenisation"

DECLARE = (
    'incident create --severity=sev1 --title="Payment Gateway Down" --service payments'
    ' --public="We are investigating failed card payments."'
)
UPDATE_1 = (
    f'incident update --status=identified --message="{SECRET_NOTE}"'
    ' --public="We have identified the cause of failed card payments."'
)
UPDATE_2 = (
    'incident update --status=monitoring --message="rolled back, error rate falling"'
    ' --public="A fix is in place and payments are recovering." --broadcast'
)
PAGE_CMD = 'page --service payments --message="Need the payments DBA"'
RESOLVE = (
    'incident resolve --root-cause="bad deploy of the card router"'
    ' --public="Service restored. Card payments work normally again."'
)


@pytest.fixture(name="statuspage")
def statuspage_emulator() -> Iterator[StatuspageEmulator]:
    with StatuspageEmulator(api_keys=(API_KEY,)) as page:
        page.add_page(PAGE, {COMPONENT: "Payments"})
        yield page


@pytest.fixture(name="pagerduty")
def pagerduty_emulator() -> Iterator[PagerDutyEmulator]:
    with PagerDutyEmulator() as emulator:
        yield emulator


@pytest.fixture(name="smtp")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(name="config")
def everything_configured(
    slack: SlackEmulator,
    tmp_path: Path,
    statuspage: StatuspageEmulator,
    pagerduty: PagerDutyEmulator,
    smtp: SmtpServer,
) -> Path:
    slack.add_channel("incidents", channel_id="C0INCIDENTS", members=("UBOT",))
    settings: dict[str, Any] = {
        "store": {"path": str(tmp_path / "bot.db")},
        "incidents": {
            "announcement_channel": "C0INCIDENTS",
            "call_link": "https://zoom.example/j/{number}",
        },
        "services": {"payments": {}},
        "statuspage": {
            "api_url": statuspage.api_url,
            "page_id": PAGE,
            "components": {"payments": COMPONENT},
        },
        "paging": {"pagerduty": {"events_url": pagerduty.url}},
        "email": email_settings(smtp.port),
    }
    path = tmp_path / "hotfix.yml"
    path.write_text(yaml.safe_dump(settings))
    return path


def start(config: Path, slack: SlackEmulator, routing_key: str, log: Path) -> BotProcess:
    env = {"STATUSPAGE_API_KEY": API_KEY, "PAGERDUTY_ROUTING_KEY": routing_key}
    return BotProcess(config=config, slack=slack, clock_file=None, log=log, extra_env=env)


def delivered(store: Store) -> bool:
    return deliveries.depth(store) == 0


def war_room(store: Store) -> str | None:
    row = store.query_one("SELECT channel_id, war_room_done_at FROM incidents WHERE id = 'INC-1'")
    return row["channel_id"] if row and row["war_room_done_at"] else None


def recorded(store: Store, kind: str) -> int:
    return len([e for e in timeline.events(store, incident_id="INC-1") if e.kind == kind])


def where_things_are(
    store: Store, statuspage: StatuspageEmulator, pagerduty: PagerDutyEmulator, smtp: SmtpServer
) -> str:
    """What arrived and what the queue holds: the failure message of a wait that ran out."""
    queue = [
        (d.id, d.channel, d.action, d.audience, d.state.value, d.attempts, d.checkpoint, d.error)
        for d in deliveries.for_incident(store, "INC-1")
    ]
    return (
        f"status page writes {[(w.method, w.incident.get('status')) for w in statuspage.writes()]}"
        f"; pagerduty {[(r.action, r.dedup_key) for r in pagerduty.accepted()]}"
        f"; mails {[(m.rcpt_tos, m.header('Subject')) for m in smtp.messages()]}"
        f"; deliveries {queue}"
    )


def pagerduty_events(pagerduty: PagerDutyEmulator) -> list[tuple[str | None, str | None]]:
    """The distinct events PagerDuty accepted, in the order first seen."""
    return list(dict.fromkeys((r.action, r.dedup_key) for r in pagerduty.accepted()))


def mails_to(smtp: SmtpServer, addresses: list[str]) -> list[Received]:
    return [m for m in smtp.messages() if sorted(m.rcpt_tos) == sorted(addresses)]


def test_a_sev1_reaches_every_audience_once_in_order_through_a_restart_and_a_replay(
    slack: SlackEmulator,
    config: Path,
    tmp_path: Path,
    statuspage: StatuspageEmulator,
    pagerduty: PagerDutyEmulator,
    smtp: SmtpServer,
) -> None:
    routing_key = pagerduty.add_routing_key()
    log = tmp_path / "bot.log"
    store = Store(tmp_path / "bot.db")
    first = start(config, slack, routing_key, log)
    try:
        assert first.driver.slash(DECLARE).status == 200
        assert wait_until(lambda: statuspage.incidents(PAGE) != [] and war_room(store), timeout=30)
        room_id = war_room(store)
        assert wait_until(lambda: delivered(store), timeout=60)
        update_1 = first.driver.slash(UPDATE_1, channel_id=room_id)
        assert update_1.status == 200
        # Killed as soon as the update is recorded: what it owes the status page and
        # PagerDuty may still be queued, or in flight.
        assert wait_until(lambda: recorded(store, "status_update") == 1, timeout=30)
    finally:
        first.kill()  # a crash: no cleanup

    second = start(config, slack, routing_key, log)
    try:
        # Slack retries the first update (its answer was lost with the first process).
        again = second.driver.replay(update_1, retry_num=1, retry_reason="http_timeout")
        assert again.status == 200
        for text, kind, count in (
            (UPDATE_2, "status_update", 2),
            (PAGE_CMD, "paged", 1),
            (RESOLVE, "resolved", 1),
        ):
            assert second.driver.slash(text, channel_id=room_id).status == 200
            # The command is recorded and what it owes is delivered before the next is typed.
            assert wait_until(lambda k=kind, n=count: recorded(store, k) == n, timeout=30)
        # Everything owed has arrived (what is planned after an event is recorded is queued
        # a moment later, so an empty queue alone proves nothing); then nothing more comes.
        arrived = wait_until(
            lambda: (
                len(statuspage.writes()) == 4
                and len(pagerduty_events(pagerduty)) == 5
                and len(smtp.messages()) == 8
            ),
            timeout=90,
        )
        assert arrived, where_things_are(store, statuspage, pagerduty, smtp)
        assert wait_until(lambda: delivered(store), timeout=30)
    finally:
        second.stop()

    # --- Customers: the status page --------------------------------------------------
    writes = statuspage.writes()
    assert [(w.method, w.incident.get("status")) for w in writes] == [
        ("POST", "investigating"),
        ("PATCH", "identified"),
        ("PATCH", "monitoring"),
        ("PATCH", "resolved"),
    ]
    bodies = [w.incident.get("body") or "" for w in writes]
    assert "We are investigating failed card payments." in bodies[0]
    assert "We have identified the cause of failed card payments." in bodies[1]
    assert "A fix is in place and payments are recovering." in bodies[2]
    assert "Service restored. Card payments work normally again." in bodies[3]
    assert writes[0].incident["components"] == {COMPONENT: "major_outage"}
    assert writes[3].incident["components"] == {COMPONENT: "operational"}
    assert statuspage.component_status(PAGE, COMPONENT) == "operational"
    [public_incident] = statuspage.incidents(PAGE)
    assert public_incident["status"] == "resolved"
    for body in bodies:
        assert SECRET_NOTE not in body and "Payment Gateway Down" not in body

    # --- On call: PagerDuty -----------------------------------------------------------
    sent_events = [(r.action, r.dedup_key) for r in pagerduty.accepted()]
    events = pagerduty_events(pagerduty)
    # An event the SIGKILL cut short (sent, not recorded) is sent again after the restart:
    # the Events API applies it to the same alert by its dedup_key and nobody is notified
    # twice (there is no way to ask PagerDuty whether it arrived). Nothing else repeats.
    assert len(sent_events) - len(events) <= 1
    assert all(sent_events.count(e) == 1 for e in events if e[0] != "acknowledge")
    assert events[:2] == [("trigger", "INC-1"), ("acknowledge", "INC-1")]
    page_keys = [key for action, key in events if action == "trigger" and key != "INC-1"]
    assert len(page_keys) == 1 and page_keys[0].startswith("INC-1/page/")
    assert sorted(events[3:]) == sorted([("resolve", "INC-1"), ("resolve", page_keys[0])])
    assert len(events) == 5
    assert pagerduty.alert("INC-1", routing_key=routing_key).status == "resolved"
    assert routing_key not in log.read_text()

    # --- Executives, support and customers: email, one thread each ---------------------
    expected = {"execs": (EXECS, 3), "support": (SUPPORT, 2), "customers": (CUSTOMERS, 3)}
    for audience, (addresses, count) in expected.items():
        mails = mails_to(smtp, addresses)
        assert len(mails) == count, audience
        first_id = mails[0].header("Message-ID")
        assert first_id and all(m.header("In-Reply-To") == first_id for m in mails[1:]), audience
        assert len({m.header("Message-ID") for m in mails}) == count, audience
    customer_mails = mails_to(smtp, CUSTOMERS)
    assert "We are investigating failed card payments." in customer_mails[0].part("plain")
    assert "A fix is in place and payments are recovering." in customer_mails[1].part("plain")
    assert "Service restored." in customer_mails[2].part("plain")
    for mail in customer_mails:
        text = mail.part("plain") + mail.part("html") + (mail.header("Subject") or "")
        assert SECRET_NOTE not in text and "Payment Gateway Down" not in text
    assert len(smtp.messages()) == 8  # nothing else, nothing twice

    # --- The war room and the timeline --------------------------------------------------
    history = timeline.events(store, incident_id="INC-1")
    updates = [e for e in history if e.kind == "status_update"]
    assert len(updates) == 2  # the replayed update was answered, not recorded again
    sent = [e for e in history if e.kind == "comms_sent"]
    assert len(sent) == 4 + 5 + 8
    failed = [e.text for e in history if e.kind == "comms_failed"]
    assert not failed, failed
    links = [e.data.get("link") for e in sent if e.data.get("channel") == "statuspage"]
    assert public_incident["shortlink"] in links
    # The company: every update in the announcement's thread, the --broadcast one also in
    # the channel; the resolution too.
    announcement = store.query_one("SELECT announcement_ts FROM incidents")["announcement_ts"]
    thread = slack.thread("C0INCIDENTS", announcement)
    said = [m.get("text", "") for m in thread]
    assert any("A fix is in place" in t or "rolled back" in t for t in said)
    broadcast = [m for m in thread if m.get("subtype") == "thread_broadcast"]
    assert len(broadcast) == 1 and "rolled back" in str(broadcast[0])
    # The public incident is bookmarked in the war room once, beside the call link.
    bookmarks = [b.get("link") for b in slack.bookmarks(room_id)]
    assert bookmarks.count("https://zoom.example/j/1") == 1  # in either order
    assert bookmarks.count(public_incident["shortlink"]) == 1
    store.close()
