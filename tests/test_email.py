"""Email over SMTP, end to end: the incident flows, the queue, a real SMTP server (aiosmtpd).

What each audience received (envelope, headers, both parts), one thread per incident and
audience across declared → --broadcast update → resolved, nothing twice under replays.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.comms.news import Occasion
from services.incidents import records
from services.incidents.outside import declared_outside, tell_outside
from tests.harness.email_fixtures import (
    CUSTOMERS,
    EXECS,
    SUPPORT,
    console,
    settle,
)
from tests.harness.smtp_server import Received, SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TITLE = "Payments DB primary OOM-killed"
CREATE = f'incident create --severity=sev1 --title="{TITLE}"'


def by_audience(mails: list[Received]) -> dict[str, list[Received]]:
    audiences = {tuple(EXECS): "execs", tuple(CUSTOMERS): "customers", tuple(SUPPORT): "support"}
    grouped: dict[str, list[Received]] = {}
    for mail in mails:
        grouped.setdefault(audiences[tuple(mail.rcpt_tos)], []).append(mail)
    return grouped


def lifecycle(deps: Deps, smtp: SmtpServer, clock: ManualClock) -> list[Received]:
    alice = console(deps)
    alice.handle(CREATE)
    settle(deps, smtp, 3)
    clock.advance(timedelta(minutes=5))
    alice.handle('incident update --status=identified --message="Failing over to the replica"')
    alice.handle(
        'incident update --status=monitoring --eta="10 minutes"'
        ' --message="Replica promoted, error rate falling" --broadcast'
    )
    settle(deps, smtp, 5)
    clock.advance(timedelta(minutes=20))
    alice.handle('incident resolve --root-cause="connection pool leak" --action-items="cap pool"')
    return settle(deps, smtp, 8)


def test_each_audience_gets_its_mails_in_one_thread_with_both_parts(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    mails = by_audience(lifecycle(edeps, smtp, clock))
    # Declared: all three; the quiet update: nobody; --broadcast: execs and customers;
    # resolved: all three.
    assert {name: len(got) for name, got in mails.items()} == {
        "execs": 3,
        "customers": 3,
        "support": 2,
    }
    for name, got in mails.items():
        root = got[0]
        root_id = root.header("Message-ID")
        assert root_id is not None and root_id.startswith("<hotfix.inc-1.")
        assert root_id.endswith(f".{name}@example.com>")
        assert root.header("In-Reply-To") is None and root.header("References") is None
        for reply in got[1:]:
            assert reply.header("In-Reply-To") == root_id
            assert reply.header("References") == root_id
        ids = [m.header("Message-ID") for m in got]
        assert len(set(ids)) == len(ids)
        for mail in got:
            assert mail.mail_from == "incidents@example.com"
            assert mail.header("From") == "incidents@example.com"
            assert mail.header("Date") is not None
            assert mail.header("Auto-Submitted") == "auto-generated"
            assert mail.message.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in mail.message.iter_parts()] == [
                "text/plain",
                "text/html",
            ]
    execs = mails["execs"]
    assert execs[0].header("To") == ", ".join(EXECS)
    assert execs[0].header("Subject") == f"[SEV1] INC-1: {TITLE}"
    assert execs[1].header("Subject") == f"Update: [SEV1] INC-1: {TITLE}"
    assert execs[2].header("Subject") == f"Resolved: [SEV1] INC-1: {TITLE}"
    update = execs[1].part("plain")
    assert "Status: Monitoring" in update and "ETA: 10 minutes" in update
    assert "Replica promoted, error rate falling" in update
    assert "War room: #inc-1-" in update and "Commander: console:alice" in update
    assert "Replica promoted, error rate falling" in execs[1].part("html")
    # Executives get the summary, not the internal details.
    assert "connection pool leak" not in execs[2].raw.decode()
    support = mails["support"][1].part("plain")
    assert "Root cause: connection pool leak" in support and "- cap pool" in support


def test_customers_get_only_the_customer_words_and_not_each_others_addresses(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    customers = by_audience(lifecycle(edeps, smtp, clock))["customers"]
    assert [m.header("Subject") for m in customers] == [
        "Service disruption",
        "Service disruption",
        "Resolved: service disruption",
    ]
    assert "We are investigating a service disruption that started at" in customers[0].part("plain")
    assert "A fix has been applied and we are monitoring" in customers[1].part("plain")
    assert "Service restored." in customers[2].part("html")
    for mail in customers:
        assert mail.rcpt_tos == CUSTOMERS
        assert mail.header("To") == "undisclosed-recipients:;"
        raw = mail.raw.decode()
        for internal in ("OOM", "replica", "Replica", "pool", "alice", "INC-1", "inc-1-"):
            assert internal not in raw.split("Message-ID")[0] + mail.part("plain")
            assert internal not in mail.part("html")
        assert "X-Hotfix-Incident" not in raw


def test_the_timeline_says_who_was_emailed(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    lifecycle(edeps, smtp, clock)
    sent = [e for e in timeline.events(edeps.store, incident_id="INC-1") if e.kind == "comms_sent"]
    texts = [e.text for e in sent]
    assert f"Emailed execs (2 recipients): “[SEV1] INC-1: {TITLE}”" in texts
    assert "Emailed support (1 recipient): “Resolved: [SEV1] INC-1: " + TITLE + "”" in texts
    assert len(sent) == 8
    assert {e.data["audience"] for e in sent} == {"execs", "customers", "support"}


def test_nothing_is_sent_twice_when_the_flows_tell_again(
    edeps: Deps, smtp: SmtpServer, clock: ManualClock
) -> None:
    lifecycle(edeps, smtp, clock)
    incident = records.get(edeps.store, "INC-1")
    # What a resumed flow or a replayed request does: tell the same recorded events again.
    declared_outside(incident, edeps.war_room)
    occasion = {"status_update": Occasion.UPDATED, "resolved": Occasion.RESOLVED}
    for event in timeline.events(edeps.store, incident_id="INC-1"):
        if event.kind in occasion:
            assert tell_outside(occasion[event.kind], incident, event, edeps.war_room) == []
    assert deliveries.depth(edeps.store) == 0
    assert len(settle(edeps, smtp, 8)) == 8


def test_a_quiet_update_and_an_unconfigured_severity_send_nothing(
    edeps: Deps, smtp: SmtpServer, printed: io.StringIO
) -> None:
    alice = console(edeps)
    alice.handle('incident create --severity=sev3 --title="Slow search"')
    alice.handle('incident update --status=identified --message="Found it" --broadcast')
    alice.handle('incident resolve --root-cause="index" --action-items="reindex"')
    settle(edeps, smtp, 0)
    assert smtp.messages() == []
    assert deliveries.for_incident(edeps.store, "INC-1") == []


def test_a_broadcast_update_replayed_by_slack_is_emailed_once(
    edeps: Deps, smtp: SmtpServer
) -> None:
    from services.incidents.lifecycle import post_update
    from services.incidents.model import Status

    console(edeps).handle(CREATE)
    settle(edeps, smtp, 3)
    for _ in range(3):  # the request and two of Slack's retries, same trigger id
        post_update(
            records.get(edeps.store, "INC-1"),
            deps=edeps.war_room,
            actor="U0ALICE",
            status=Status.IDENTIFIED,
            message="Found the leak",
            eta=None,
            broadcast=True,
            request_key="trigger-1",
        )
    mails = settle(edeps, smtp, 5)
    assert len(mails) == 5  # execs and customers once each
    assert [m.rcpt_tos for m in mails[3:]] == [EXECS, CUSTOMERS]
