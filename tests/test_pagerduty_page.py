"""`/hotfix page`: on-demand pages through PagerDuty, from the war room, with --incident,
and in the console; bad input answered clearly; hostile input kept in its place."""

# The emulator and bot fixtures are test_pagerduty's, imported: their names are parameters.
# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.console import Console
from bot.wiring import build_deps, build_router, close_deps
from services import timeline
from services.clock import ManualClock
from services.comms import deliveries
from services.incidents.model import Severity
from services.settings import Settings
from tests.harness.bot_actions import command
from tests.harness.pagerduty_emulator import PagerDutyEmulator

from .test_incidents_e2e import incident
from .test_pagerduty import ENV, Paging, Starter, pd, start_paging  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAVE_ENV = "PAGERDUTY_KEY_DAVE"
PAYMENTS_ENV = "PAGERDUTY_KEY_PAYMENTS"


@pytest.fixture
def paging(start_paging: Starter, pd: PagerDutyEmulator, monkeypatch: pytest.MonkeyPatch) -> Paging:
    monkeypatch.setenv(DAVE_ENV, pd.add_routing_key())
    monkeypatch.setenv(PAYMENTS_ENV, pd.add_routing_key())
    running = start_paging(
        services={"payments": {}, "search": {}},
        people_routing_key_env={"U0DAVE": DAVE_ENV},
        service_routing_key_env={"payments": PAYMENTS_ENV},
    )
    running.declare()
    return running


def keys(pd: PagerDutyEmulator) -> dict[str, str]:
    import os

    return {os.environ[name]: name for name in (ENV, DAVE_ENV, PAYMENTS_ENV)}


def pages(paging: Paging) -> list[Any]:
    return [r for r in paging.sent() if r.dedup_key and "/page/" in r.dedup_key]


def test_paging_a_person_sends_their_own_routing_key_a_page_of_its_own(paging: Paging) -> None:
    reply = paging.run('page <@U0DAVE> --message="Checkout is down, need a DB expert"')
    paging.drain()
    assert "page queued for PagerDuty (1 routing key)" in reply["text"]
    (event,) = paging.timeline("paged")
    assert event.actor == "U0ALICE"
    assert event.data["people"] == ["U0DAVE"]
    assert event.data["message"] == "Checkout is down, need a DB expert"
    (sent,) = pages(paging)
    body = sent.body
    assert body is not None
    assert keys(paging.pd)[str(body["routing_key"])] == DAVE_ENV
    assert body["dedup_key"] == f"INC-1/page/{event.id}"  # not the incident's alert
    payload = body["payload"]
    assert payload["summary"] == "INC-1 (SEV1): Checkout is down, need a DB expert"
    assert payload["custom_details"]["paged_by"] == "U0ALICE"
    assert payload["custom_details"]["paged"] == "Slack user U0DAVE"
    assert payload["custom_details"]["message"] == "Checkout is down, need a DB expert"
    posted = [t for t in paging.room_texts() if "through PagerDuty" in t]
    assert posted == ["INC-1: <@U0ALICE> paged <@U0DAVE> through PagerDuty"]
    texts = [e.text for e in paging.timeline("comms_sent")]
    assert f"Paged <@U0DAVE> (PagerDuty alert INC-1/page/{event.id} triggered)" in texts
    # The incident's own alert is untouched by the page; the page is not acknowledged for
    # the person (they must answer it), and the resolution resolves both.
    incident_alert = paging.pd.alert("INC-1")
    assert incident_alert is not None and incident_alert.status == "triggered"
    paging.run('incident resolve --root-cause="db"')
    paging.drain()
    page_alert = paging.pd.alert(f"INC-1/page/{event.id}")
    assert page_alert is not None and page_alert.status == "resolved"
    assert incident_alert.status == "resolved"


def test_paging_services(paging: Paging) -> None:
    paging.run('page --service=payments --service=search --message="help"')
    paging.drain()
    sent = pages(paging)
    by_env = {keys(paging.pd)[str(r.routing_key)]: r.body for r in sent}
    assert set(by_env) == {PAYMENTS_ENV, ENV}
    # search has no routing key of its own: the default key, with the service as the
    # component for PagerDuty's event rules, and said so.
    assert by_env[ENV] and by_env[ENV]["payload"]["component"] == "search"
    assert by_env[PAYMENTS_ENV] and "component" not in by_env[PAYMENTS_ENV]["payload"]
    posted = [t for t in paging.room_texts() if "through PagerDuty" in t]
    assert posted == ["INC-1: <@U0ALICE> paged the on-call of payments, search through PagerDuty"]
    (event,) = paging.timeline("paged")
    assert event.text == (
        "Paged the on-call of payments and the on-call of search (through the default"
        " routing key): help"
    )


def test_paging_without_targets_pages_the_incidents_on_call_with_its_own_key(
    paging: Paging,
) -> None:
    paging.run("page")
    paging.drain()
    (sent,) = pages(paging)
    assert keys(paging.pd)[str(sent.routing_key)] == ENV
    assert sent.body and sent.body["payload"]["summary"] == (
        "INC-1 (SEV1): U0ALICE asks for help with Payment Gateway Down"
    )
    assert len(paging.pd.alerts) == 2  # the incident's alert and the page's own


def test_paging_with_incident_flag_from_another_channel(paging: Paging) -> None:
    reply = paging.run('page --incident INC-1 <@U0DAVE> --message="hi"', room=False)
    paging.drain()
    assert "page queued" in reply["text"]
    assert len(pages(paging)) == 1


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("page --service=paymnts", "Unknown service 'paymnts'.\\nDid you mean payments?"),
        ("page <@U0BOB>", "has no PagerDuty routing key"),
        ("page <@U0BOB>", "people_routing_key_env"),
        ("page --message=" + "x" * 10_000, "The message is 10000 characters"),
        ("page --bogus", "No such option"),
    ],
)
def test_bad_input_is_answered_and_pages_nobody(paging: Paging, text: str, said: str) -> None:
    before = len(paging.pd.requests)
    reply = paging.run(text)
    paging.drain()
    assert said in str(reply)
    assert paging.timeline("paged") == []
    assert len(paging.pd.requests) == before


def test_outside_a_war_room_the_incident_must_be_named(paging: Paging) -> None:
    reply = paging.run("page <@U0DAVE>", room=False)
    assert "not an incident's war room" in str(reply)
    assert "--incident INC-n" in str(reply)


def test_a_resolved_incident_is_not_paged_for(paging: Paging) -> None:
    paging.run('incident resolve --root-cause="x"')
    paging.drain()
    reply = paging.run("page <@U0DAVE>")
    assert "INC-1 is resolved; nobody was paged." in str(reply)


def test_help_shows_the_command(paging: Paging) -> None:
    reply = paging.run("help page")
    assert "--service" in str(reply) and "/hotfix page @dave" in str(reply)
    typo = paging.run("pgae <@U0DAVE>")
    assert "page" in str(typo)


HOSTILE = "<!channel> <@U0BOB> \u202ehello\u202c *bold* <script>alert(1)</script>\nsecond line"


def test_hostile_message_reaches_pagerduty_as_text_and_slack_escaped(paging: Paging) -> None:
    paging.run(f"page <@U0DAVE> --message='{HOSTILE}'")
    paging.drain()
    (sent,) = pages(paging)
    assert sent.body and sent.body["payload"]["custom_details"]["message"] == HOSTILE
    assert len(sent.body["payload"]["summary"]) <= 1024
    room = incident(paging.bot).channel_id
    assert room
    (post,) = [m for m in paging.slack.messages(room) if "through PagerDuty" in str(m)]
    shown = str(post)
    assert "<!channel>" not in shown and "<script>" not in shown
    assert "&lt;!channel&gt;" in shown


def test_a_long_title_is_cut_to_pagerdutys_summary_limit(start_paging: Starter) -> None:
    running = start_paging()
    running.declare(title="T" * 10_000)
    (trigger,) = running.sent()  # PagerDuty accepted it: within its limits
    assert trigger.body
    assert len(trigger.body["payload"]["summary"]) <= 1024
    assert trigger.body["payload"]["summary"].endswith("…")


def test_page_in_the_console(
    tmp_path: Path, clock: ManualClock, pd: PagerDutyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pd.add_routing_key()
    monkeypatch.setenv(ENV, key)
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "bot.db")},
            "paging": {"pagerduty": {"events_url": pd.url}},
        }
    )
    deps = build_deps(settings, clock=clock)
    try:
        console = Console(deps, build_router(settings), actor="console:alice")
        console.handle('incident create --severity=sev2 --title="Search slow"')
        assert deps.worker.drain(10)
        answer = console.handle('page --incident INC-1 --message="search on-call please"')
        assert "page queued for PagerDuty" in answer
        assert deps.worker.drain(10)
        deps.comms.drain()
        (sent,) = pd.accepted()  # SEV2 does not page on declaration; the page does
        assert sent.body and sent.body["payload"]["summary"] == (
            "INC-1 (SEV2): search on-call please"
        )
        assert sent.body["payload"]["severity"] == "error"
        assert [d.state.value for d in deliveries.for_incident(deps.store, "INC-1")] == ["sent"]
    finally:
        close_deps(deps)


def test_replayed_page_request_pages_once(paging: Paging) -> None:
    room = incident(paging.bot).channel_id
    assert room
    first = paging.bot.driver.slash("page <@U0DAVE>", channel_id=room)
    paging.drain()
    again = paging.bot.driver.replay(first, retry_num=1)
    paging.drain()
    assert again.status == 200
    assert len(pages(paging)) == 1
    assert len(paging.timeline("paged")) == 1
    command(paging.bot, "page <@U0DAVE>", channel_id=room)  # a new request: a new page
    paging.drain()
    assert len(pages(paging)) == 2


def test_an_incidents_services_are_paged_on_their_own_keys(paging: Paging) -> None:
    from services.incidents.declare import Declaration, declare

    result = declare(
        Declaration(
            title="Checkout and search down",
            severity=Severity.SEV0,
            impact="critical",
            description="",
            commander=None,
            declared_by="U0ALICE",
            origin_channel_id="C0GENERAL",
            services=("payments", "search"),
        ),
        deps=paging.bot.deps.war_room,
    )
    paging.drain()
    inc = result.report.incident
    triggers = [r for r in paging.sent() if r.dedup_key == inc.id]
    by_env = {keys(paging.pd)[str(r.routing_key)]: r for r in triggers}
    assert set(by_env) == {PAYMENTS_ENV, ENV}  # search has no key of its own
    texts = [e.text for e in timeline.events(paging.bot.deps.store, incident_id=inc.id)]
    assert f"Paged the on-call of payments (PagerDuty alert {inc.id} triggered, critical)" in texts
    assert f"Paged the on-call of search (PagerDuty alert {inc.id} triggered, critical)" in texts
    command(paging.bot, f'incident resolve --incident {inc.id} --root-cause="x"')
    paging.drain()
    resolved = {
        keys(paging.pd)[str(r.routing_key)]
        for r in paging.sent()
        if r.action == "resolve" and r.dedup_key == inc.id
    }
    assert resolved == {PAYMENTS_ENV, ENV}
    for env_key in (PAYMENTS_ENV, ENV):
        alert = paging.pd.alert(
            inc.id, routing_key=next(k for k, v in keys(paging.pd).items() if v == env_key)
        )
        assert alert is not None and alert.status == "resolved"
