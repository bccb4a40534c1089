"""The status page end to end: the bot, its durable queue and the Statuspage emulator over
real HTTP (and the Slack emulator for the war room)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.core.context import CommandEnv, Invocation
from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.incidents import lifecycle, records
from services.incidents.declare import Declaration, declare
from services.incidents.model import Incident, Severity, Status
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator
from tests.harness.statuspage_emulator import Recorded, StatuspageEmulator

from .test_incidents_e2e import start_incident_bot

pytestmark = pytest.mark.e2e

PAGE = "pg7x2k9q1m3n"
KEY = "sp-key-4d1f9a7c0e"
PAYMENTS, CHECKOUT, SEARCH = "cmpay0000001", "cmchk0000002", "cmsrc0000003"
INTERNAL = "root cause hypothesis: the db-7 failover script from Bob's branch"


def statuspage_settings(page: StatuspageEmulator, **overrides: Any) -> dict[str, Any]:
    return {
        "api_url": page.api_url,
        "page_id": PAGE,
        "components": {"payments": PAYMENTS, "checkout": CHECKOUT},
        # Fast in tests; the client's pacing is tested with an injected clock below.
        "requests_per_second": 50,
        **overrides,
    }


@pytest.fixture
def page() -> Iterator[StatuspageEmulator]:
    emulator = StatuspageEmulator(api_keys=(KEY,))
    emulator.add_page(PAGE, {PAYMENTS: "Payments", CHECKOUT: "Checkout", SEARCH: "Search"})
    with emulator:
        yield emulator


def start(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
    **overrides: Any,
) -> RunningBot:
    monkeypatch.setenv("STATUSPAGE_API_KEY", KEY)
    return start_incident_bot(
        slack, tmp_path, clock, statuspage=statuspage_settings(page, **overrides)
    )


@pytest.fixture
def spbot(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningBot]:
    bot = start(slack, tmp_path, clock, page, monkeypatch)
    yield bot
    bot.stop()


def env(bot: RunningBot, *, key: str | None = None) -> CommandEnv:
    return CommandEnv(
        Invocation(actor="U0ALICE", source="slack", channel_id="C0GENERAL", trigger_id=key),
        bot.deps,
    )


def declare_incident(
    bot: RunningBot,
    *,
    public: str | None = None,
    services: tuple[str, ...] = ("payments",),
    severity: Severity = Severity.SEV1,
    description: str = INTERNAL,
    key: str = "trigger-declare",
) -> Incident:
    result = declare(
        Declaration(
            title="Payment Gateway Down (db-7 failover, ask Bob)",
            severity=severity,
            impact="high",
            description=description,
            commander="U0ALICE",
            declared_by="U0ALICE",
            origin_channel_id="C0GENERAL",
            request_key=key,
            services=services,
            public=public,
        ),
        deps=bot.deps.war_room,
    )
    bot.settle()
    return result.report.incident


def update(
    bot: RunningBot,
    incident_id: str,
    *,
    status: Status | None = None,
    message: str = INTERNAL,
    public: str | None = None,
    key: str = "trigger-update",
) -> None:
    incident = records.get(bot.deps.store, incident_id)
    lifecycle.post_update(
        incident,
        deps=bot.deps.war_room,
        actor="U0ALICE",
        status=status,
        message=message,
        eta=None,
        broadcast=False,
        request_key=key,
        public=public,
    )
    bot.settle()


def resolve(bot: RunningBot, incident_id: str, *, public: str | None = None) -> None:
    incident = records.get(bot.deps.store, incident_id)
    lifecycle.resolve(
        incident,
        deps=bot.deps.war_room,
        actor="U0ALICE",
        root_cause=INTERNAL,
        action_items=[],
        resolution="Bob reverted the failover script",
        public=public,
    )
    bot.settle()


def drain(bot: RunningBot) -> None:
    bot.deps.comms.drain()


PAY_DOWN = {PAYMENTS: "major_outage"}
RESTORED = "Service restored. This incident has been resolved; payments is operating normally."


def summary(
    request: Recorded,
) -> tuple[str, str | None, str | None, dict[str, str] | None]:
    """Method, status, the body's first sentence, components."""
    fields = request.incident
    body = fields.get("body")
    first = body.split("\n")[0].split(" affecting ")[0] if isinstance(body, str) else None
    return (request.method, fields.get("status"), first, fields.get("components"))


def comms_events(bot: RunningBot, incident_id: str = "INC-1") -> list[timeline.TimelineEvent]:
    return [
        e
        for e in timeline.events(bot.deps.store, incident_id=incident_id)
        if e.kind in ("comms_sent", "comms_failed")
    ]


# -- the SEV1 playbook: investigating … service restored ----------------------------------


def test_public_declaration_update_and_resolution_reach_the_page_in_order(
    spbot: RunningBot, page: StatuspageEmulator, slack: SlackEmulator
) -> None:
    incident = declare_incident(spbot, public="Card payments are failing for some customers.")
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    update(spbot, incident.id, message="Bob is still looking at the logs", key="u2")
    update(spbot, incident.id, status=Status.MONITORING, public="A fix is rolling out.", key="u3")
    resolve(spbot, incident.id)

    writes = page.writes()
    # The customer templates' words (their wording is the templates'; the opening words
    # of each are what this test pins): the public words, the status's own words, the
    # Resolution Notice; the internal-only update ("Bob is still looking…") sent nothing.
    assert [summary(r) for r in writes] == [
        ("POST", "investigating", "Card payments are failing for some customers.", PAY_DOWN),
        ("PATCH", "identified", "We have identified the cause of the disruption", None),
        ("PATCH", "monitoring", "A fix is rolling out.", None),
        ("PATCH", "resolved", RESTORED, {PAYMENTS: "operational"}),
    ]
    create = writes[0]
    assert create.path == f"/v1/pages/{PAGE}/incidents"
    assert create.authorization == f"OAuth {KEY}"
    assert create.content_type == "application/json"
    assert create.incident["name"] == "Service disruption affecting payments"
    assert create.incident["component_ids"] == [PAYMENTS]
    assert create.incident["metadata"]["hotfix_bot"]["incident_id"] == incident.id
    (public,) = page.incidents(PAGE)
    assert all(r.path == f"/v1/pages/{PAGE}/incidents/{public['id']}" for r in writes[1:])
    assert public["status"] == "resolved"
    assert [u["status"] for u in reversed(public["incident_updates"])] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert page.component_status(PAGE, PAYMENTS) == "operational"
    assert page.component_status(PAGE, CHECKOUT) == "operational"  # never touched

    # The link: saved, bookmarked in the war room, written on the timeline.
    link = deliveries.get_link(spbot.deps.store, incident.id, "statuspage")
    assert link is not None and link.external_id == public["id"]
    assert link.url == public["shortlink"]
    room = records.get(spbot.deps.store, incident.id).channel_id
    assert room is not None
    assert [(b["title"], b["link"]) for b in slack.bookmarks(room) if "stspg" in b["link"]] == [
        ("Status page", public["shortlink"])
    ]
    events = comms_events(spbot, incident.id)
    assert [(e.kind, e.text) for e in events] == [
        ("comms_sent", "Status page incident opened (Investigating)"),
        ("comms_sent", "Status page updated (Identified)"),
        ("comms_sent", "Status page updated (Monitoring)"),
        ("comms_sent", "Status page incident resolved; components back to operational"),
    ]
    assert {e.data["link"] for e in events} == {public["shortlink"]}


def test_internal_details_never_reach_the_page(spbot: RunningBot, page: StatuspageEmulator) -> None:
    incident = declare_incident(spbot, public="Payments are failing.")
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    resolve(spbot, incident.id)
    sent = " ".join(str(r.body) for r in page.requests)
    for secret in ("db-7", "Bob", "failover", "Payment Gateway Down", "U0ALICE", "hypothesis"):
        assert secret not in sent


def test_no_public_words_no_public_incident(spbot: RunningBot, page: StatuspageEmulator) -> None:
    incident = declare_incident(spbot)
    update(spbot, incident.id, status=Status.IDENTIFIED, key="u1")
    resolve(spbot, incident.id)
    assert page.requests == []
    assert deliveries.for_incident(spbot.deps.store, incident.id) == []


@pytest.fixture
def sev0_opens(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RunningBot]:
    """A bot whose SEV0 declarations open the public incident by themselves."""
    bot = start(slack, tmp_path, clock, page, monkeypatch, open_automatically=["sev0"])
    yield bot
    bot.stop()


def test_a_severity_not_listed_waits_for_public_words(
    sev0_opens: RunningBot, page: StatuspageEmulator
) -> None:
    sev1 = declare_incident(sev0_opens, services=("payments", "checkout"))
    assert page.writes() == []  # SEV1 is not listed: nothing public yet
    update(sev0_opens, sev1.id, public="Checkout is slow.", key="u1")
    (opened,) = page.writes()
    assert opened.method == "POST"
    assert opened.incident["body"].startswith("Checkout is slow.")
    assert opened.incident["components"] == {PAYMENTS: "major_outage", CHECKOUT: "major_outage"}


def test_a_severity_listed_opens_without_public_words(
    sev0_opens: RunningBot, page: StatuspageEmulator
) -> None:
    declare_incident(sev0_opens, severity=Severity.SEV0)
    (opened,) = page.writes()
    assert opened.incident["status"] == "investigating"
    assert opened.incident["body"].startswith(
        "We are investigating a service disruption affecting payments"
    )


def test_a_severity_change_re_marks_the_components(
    spbot: RunningBot, page: StatuspageEmulator
) -> None:
    incident = declare_incident(spbot, public="Payments are slow.", severity=Severity.SEV3)
    assert page.component_status(PAGE, PAYMENTS) == "degraded_performance"
    lifecycle.change_severity(
        records.get(spbot.deps.store, incident.id),
        deps=spbot.deps.war_room,
        actor="U0ALICE",
        severity=Severity.SEV1,
    )
    spbot.settle()
    last = page.writes()[-1]
    assert (last.method, last.incident.get("body"), last.incident["components"]) == (
        "PATCH",
        None,
        {PAYMENTS: "major_outage"},
    )
    assert page.component_status(PAGE, PAYMENTS) == "major_outage"
    assert comms_events(spbot)[-1].text == "Status page components marked major outage"


def test_several_incidents_at_once_stay_under_the_pages_limit(
    slack: SlackEmulator,
    tmp_path: Path,
    clock: ManualClock,
    page: StatuspageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole bot paced in real time: 5 requests/s against a page allowing 6 per rolling
    second. Three public incidents opened and resolved: six requests, no 429 at all."""
    page.limit, page.window = 6, 1.0
    bot = start(slack, tmp_path, clock, page, monkeypatch, requests_per_second=5)
    try:
        hold(bot)  # queue everything first, then deliver in one go (the storm)
        incidents = [
            declare_incident(bot, public=f"Payments are failing ({n}).", key=f"declare-{n}")
            for n in range(3)
        ]
        for incident in incidents:
            resolve(bot, incident.id)
        bot.deps.comms.may_deliver = lambda: True
        bot.deps.comms.drain()
    finally:
        bot.stop()
    assert page.rate_limited == 0
    assert [(r.method, r.status) for r in page.requests] == [("POST", 201)] * 3 + [
        ("PATCH", 200)
    ] * 3
    assert {i["status"] for i in page.incidents(PAGE)} == {"resolved"}


def hold(bot: RunningBot) -> None:
    """Queue without delivering (the bot stops before its worker gets to the queue)."""
    bot.deps.comms.may_deliver = lambda: False
