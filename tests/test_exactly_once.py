"""At-least-once in, exactly-once effect: replays, retries and double clicks, fired concurrently.

Slack redelivers a request (``X-Slack-Retry-Num`` 1-3) with the very same body,
trigger id, response_url and event_id; people double-click; two approvers press
the last Approve at the same instant. Every test here fires such copies at the
bot's HTTP endpoint at once (threads released by one Barrier) and then counts
what happened: incidents, war rooms, approvals, deployments, engine runs and
timeline entries must each exist once, and every copy must still be answered.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from services import timeline
from services.clock import ManualClock
from services.deploy import deployments
from services.deploy.model import State
from services.incidents import playbook
from services.incidents import records as incidents
from services.incidents.model import Severity
from tests.harness.bot_actions import kinds, war_room
from tests.harness.deploy_target import DeployTarget
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_driver import DriverResult, SlackRequest
from tests.harness.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JSON = dict[str, Any]

ANNOUNCE = "C0INCIDENTS"
CREATE = 'incident create --severity=sev1 --title="Payments failing"'
DEPLOY = "deploy --target=production --service=payments --version=v2.1.1"
RETRY_NUMS = (None, 1, 2, 3)  # the original delivery and Slack's three retries


# -- the bot -------------------------------------------------------------------------


@pytest.fixture
def ebot(
    slack: SlackEmulator, target: DeployTarget, tmp_path: Path, clock: ManualClock
) -> Iterator[RunningBot]:
    slack.add_user("U0CAROL", "carol")
    slack.add_user("U0DAVE", "dave")
    slack.add_channel("incidents", channel_id=ANNOUNCE, members=("UBOT",))
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={
            "incidents": {
                "announcement_channel": ANNOUNCE,
                "severities": {
                    "sev1": {"responders": ["U0BOB"], "update_every_minutes": 15, "escalate": False}
                },
            },
            "services": {
                "payments": {
                    "environments": {
                        "production": target.environment(
                            approvers=["U0BOB", "U0CAROL", "U0DAVE"], approvals=2
                        )
                    }
                }
            },
            "access": {"deployers": ["U0ALICE"]},
        },
    )
    yield running
    running.stop()


# -- firing copies at once ------------------------------------------------------------


def together(*sends: Callable[[], DriverResult]) -> list[DriverResult]:
    """Run every send on its own thread, released at the same instant; results in order."""
    barrier = threading.Barrier(len(sends))
    results: list[DriverResult | None] = [None] * len(sends)
    errors: list[BaseException] = []

    def run(index: int, send: Callable[[], DriverResult]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = send()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def deliveries(bot: RunningBot, request: SlackRequest) -> list[Callable[[], DriverResult]]:
    """The same body delivered four times: the original and retries 1, 2 and 3."""
    return [
        (lambda n=n: bot.driver.send(request, retry_num=n, retry_reason="http_timeout"))
        for n in RETRY_NUMS
    ]


def replies(bot: RunningBot, *requests: SlackRequest, each: int) -> list[str]:
    """The texts posted to the requests' response_urls (`each` answers per request)."""
    texts = []
    for request in requests:
        assert request.response_id is not None
        answers = bot.slack.wait_for_response(request.response_id, count=each, timeout=20)
        texts += [str(a.get("text", "")) for a in answers]
    return texts


# -- reading what happened ------------------------------------------------------------


def audited(bot: RunningBot, action: str) -> list[JSON]:
    return [a for a in bot.audit() if a["action"] == action]


def request_deploy(bot: RunningBot, room: str) -> str:
    """Request DEP-1 from the war room; returns the card's ts."""
    result = bot.driver.slash(DEPLOY, channel_id=room)
    assert result.response_id is not None
    bot.slack.wait_for_response(result.response_id, timeout=20)
    bot.settle()
    card_ts = deployments.get(bot.deps.store, "DEP-1").card_ts
    assert card_ts is not None
    return card_ts


def approve_request(bot: RunningBot, user: str, room: str, card_ts: str) -> SlackRequest:
    return bot.driver.block_action_request(
        "hotfix_deploy_approve", value="DEP-1", user_id=user, channel_id=room, message_ts=card_ts
    )


def deploy_states(bot: RunningBot) -> list[str]:
    return [
        e.data["state"]["new"]
        for e in timeline.events(bot.deps.store, incident_id="INC-1")
        if e.kind.startswith("deploy_") and "state" in e.data
    ]


# == Declaring ==========================================================================


def test_a_declaration_delivered_four_times_at_once_declares_one_incident(
    ebot: RunningBot,
) -> None:
    request = ebot.driver.slash_request(CREATE)
    results = together(*deliveries(ebot, request))
    assert [r.status for r in results] == [200] * 4
    assert all(r.json["text"].startswith("Working on") for r in results)
    texts = replies(ebot, request, each=4)
    ebot.settle()

    assert (
        sorted(texts) == ["INC-1 declared."] + ["INC-1 was already declared by this request."] * 3
    )
    assert [i.id for i in incidents.open_incidents(ebot.deps.store)] == ["INC-1"]
    assert len(ebot.slack.calls_to("conversations.create")) == 1
    assert len(ebot.slack.messages(ANNOUNCE)) == 1
    assert kinds(ebot).count("declared") == 1
    assert kinds(ebot).count("war_room_created") == 1
    # Every copy was answered and audited, none dropped in silence.
    rows = audited(ebot, "command:incident create")
    assert [r["outcome"] for r in rows] == ["ok"] * 4

    # A straggler (retry 3 arriving after all the work is done) changes nothing either.
    late = ebot.driver.send(request, retry_num=3)
    assert late.status == 200
    assert replies(ebot, request, each=5)[-1] == "INC-1 was already declared by this request."
    ebot.settle()
    assert len(incidents.open_incidents(ebot.deps.store)) == 1
    assert len(ebot.slack.calls_to("conversations.create")) == 1


def test_a_declare_form_submitted_four_times_at_once_declares_one_incident(
    ebot: RunningBot,
) -> None:
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Checkout errors"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "sev2"}}},
        "impact": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
    }
    request = ebot.driver.view_submission_request(
        "hotfix_declare", values, private_metadata="C0GENERAL"
    )
    results = together(*deliveries(ebot, request))
    assert [(r.status, r.body) for r in results] == [(200, "")] * 4  # the modal closes
    ebot.settle()

    assert [i.id for i in incidents.open_incidents(ebot.deps.store)] == ["INC-1"]
    assert len(ebot.slack.calls_to("conversations.create")) == 1
    assert kinds(ebot).count("declared") == 1
    answers = sorted(m["text"] for m in ebot.slack.ephemerals("C0GENERAL", "U0ALICE"))
    assert len(answers) == 4
    assert "INC-1 declared." in answers[0]
    assert all("INC-1 was already declared by this request." in a for a in answers[1:])
    rows = audited(ebot, "form:hotfix_declare")
    assert [r["outcome"] for r in rows] == ["ok"] * 4


# == Events ===============================================================================


def test_a_pin_event_redelivered_with_retry_headers_pins_once(ebot: RunningBot) -> None:
    room = war_room(ebot)
    ts = ebot.slack.add_message(room, "Vendor confirms an expired TLS certificate", user="U0BOB")
    reaction = {
        "type": "reaction_added",
        "user": "U0ALICE",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": room, "ts": ts},
        "item_user": "U0BOB",
    }
    request = ebot.driver.event_request(reaction, event_id="Ev0REPLAYPIN")
    results = together(*deliveries(ebot, request))
    assert [r.status for r in results] == [200] * 4  # every delivery acknowledged
    ebot.settle()

    pinned = [
        e
        for e in timeline.events(ebot.deps.store, incident_id="INC-1")
        if e.kind == "pinned_message"
    ]
    assert len(pinned) == 1
    assert (pinned[0].actor, pinned[0].text) == (
        "U0BOB",
        "Vendor confirms an expired TLS certificate",
    )


# == Updates and notes ====================================================================


def test_a_status_update_delivered_four_times_posts_one_update(ebot: RunningBot) -> None:
    room = war_room(ebot)
    request = ebot.driver.slash_request(
        'incident update --status=identified --message="Bad config push, rolling back"',
        channel_id=room,
    )
    results = together(*deliveries(ebot, request))
    assert [r.status for r in results] == [200] * 4
    texts = replies(ebot, request, each=4)
    ebot.settle()
    # A straggling retry after everything settled: Slack sends the same body again.
    ebot.driver.send(request, retry_num=3)
    texts += replies(ebot, request, each=5)[4:]
    ebot.settle()

    assert len(texts) == 5  # every copy is answered
    assert kinds(ebot).count("status_update") == 1
    posted = [m for m in ebot.slack.messages(room) if "Bad config push" in json.dumps(m)]
    assert len(posted) == 1


def test_a_note_delivered_four_times_is_noted_once(ebot: RunningBot) -> None:
    room = war_room(ebot)
    request = ebot.driver.slash_request("note Error rate back under 1%", channel_id=room)
    results = together(*deliveries(ebot, request))
    assert [r.status for r in results] == [200] * 4
    texts = sorted(r.json["text"] for r in results)
    assert texts == ["Already noted."] * 3 + ["Noted on the timeline."]
    ebot.settle()
    assert kinds(ebot).count("note") == 1


# == Deployments ==========================================================================


def test_a_deploy_request_delivered_four_times_creates_one_deployment(
    ebot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(ebot)
    request = ebot.driver.slash_request(DEPLOY, channel_id=room)
    results = together(*deliveries(ebot, request))
    assert [r.status for r in results] == [200] * 4
    texts = replies(ebot, request, each=4)
    ebot.settle()

    assert [d["id"] for d in ebot.deps.store.query("SELECT id FROM deployments")] == ["DEP-1"]
    assert kinds(ebot).count("deploy_requested") == 1
    cards = [m for m in ebot.slack.messages(room) if m["text"].startswith("DEP-")]
    assert len(cards) == 1
    assert target.calls() == []
    # One copy made the request; the others are answered about that same DEP-1.
    assert texts.count("DEP-1 requested: waiting for 2 approval(s).") == 1
    # The other copies are answered too: "This request was already made."
    assert all(t == "This request was already made." or "DEP-1" in t for t in texts)
    assert len(audited(ebot, "command:deploy")) == 4


def test_a_retried_deploy_request_is_answered_as_already_made(ebot: RunningBot) -> None:
    room = war_room(ebot)
    first = ebot.driver.slash(DEPLOY, channel_id=room)
    assert first.response_id is not None
    ebot.slack.wait_for_response(first.response_id, timeout=20)
    ebot.settle()
    again = ebot.driver.replay(first, retry_num=1)
    assert again.status == 200
    answers = ebot.slack.wait_for_response(first.response_id, count=2, timeout=20)
    ebot.settle()
    assert answers[1]["text"] == "This request was already made."
    assert [r["outcome"] for r in audited(ebot, "command:deploy")] == ["ok", "ok"]


def test_a_double_clicked_and_retried_approval_records_one_approval(
    ebot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(ebot)
    card_ts = request_deploy(ebot, room)
    click = approve_request(ebot, "U0BOB", room, card_ts)
    double = approve_request(ebot, "U0BOB", room, card_ts)  # a second click: new trigger id
    results = together(
        *deliveries(ebot, click),
        lambda: ebot.driver.send(double),
        lambda: ebot.driver.send(double, retry_num=1),
    )
    assert [(r.status, r.body) for r in results] == [(200, "")] * 6
    texts = replies(ebot, click, each=4) + replies(ebot, double, each=2)
    ebot.settle()

    assert sorted(texts) == ["Approved DEP-1."] + ["Your approval was already recorded."] * 5
    assert [d["approver"] for d in deployments.decisions(ebot.deps.store, "DEP-1")] == ["U0BOB"]
    assert kinds(ebot).count("deploy_approval") == 1
    assert deployments.get(ebot.deps.store, "DEP-1").state is State.REQUESTED  # 1 of 2
    assert target.calls() == []
    rows = audited(ebot, "click:hotfix_deploy_approve")
    assert [r["outcome"] for r in rows] == ["ok"] * 6


def test_two_approvers_pressing_the_last_approve_at_once_deploy_once(
    ebot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(ebot)
    card_ts = request_deploy(ebot, room)
    first = approve_request(ebot, "U0BOB", room, card_ts)
    ebot.driver.send(first)
    replies(ebot, first, each=1)
    ebot.settle()

    carol = approve_request(ebot, "U0CAROL", room, card_ts)
    dave = approve_request(ebot, "U0DAVE", room, card_ts)
    results = together(
        lambda: ebot.driver.send(carol),
        lambda: ebot.driver.send(dave),
        lambda: ebot.driver.send(carol, retry_num=1),
        lambda: ebot.driver.send(dave, retry_num=1),
        lambda: ebot.driver.send(carol, retry_num=2),
        lambda: ebot.driver.send(dave, retry_num=2),
    )
    assert [r.status for r in results] == [200] * 6
    texts = replies(ebot, carol, dave, each=3)
    ebot.settle()

    assert target.calls() == [["deploy", "v2.1.1"]]  # one engine run
    assert target.live == "v2.1.1"
    assert deployments.get(ebot.deps.store, "DEP-1").state is State.SUCCEEDED
    assert deploy_states(ebot) == ["approved", "validating", "deploying", "verifying", "succeeded"]
    assert kinds(ebot).count("deploy_approved") == 1
    approvers = [d["approver"] for d in deployments.decisions(ebot.deps.store, "DEP-1")]
    assert len(approvers) == len(set(approvers)) and "U0BOB" in approvers and len(approvers) >= 2
    assert kinds(ebot).count("deploy_approval") == len(approvers)
    # Every click is answered: one of them approved it; no other copy claims to have.
    assert len(texts) == 6
    assert texts.count("Approved DEP-1.") == len(approvers) - 1
    assert len(audited(ebot, "click:hotfix_deploy_approve")) == 1 + 6


def test_a_double_clicked_and_retried_rollback_rolls_back_once(
    ebot: RunningBot, target: DeployTarget
) -> None:
    room = war_room(ebot)
    card_ts = request_deploy(ebot, room)
    for approver in ("U0BOB", "U0CAROL"):
        click = approve_request(ebot, approver, room, card_ts)
        ebot.driver.send(click)
        replies(ebot, click, each=1)
        ebot.settle()
    assert deployments.get(ebot.deps.store, "DEP-1").state is State.SUCCEEDED

    def rollback_click() -> SlackRequest:
        return ebot.driver.block_action_request(
            "hotfix_deploy_rollback",
            value="DEP-1",
            user_id="U0ALICE",
            channel_id=room,
            message_ts=card_ts,
        )

    click, double = rollback_click(), rollback_click()
    # Make the interleaving certain instead of lucky: the bot's long-job threads (8) are
    # all busy, so every copy's handler checks the deployment (still `succeeded`) and
    # queues its rollback job before any of those jobs runs; then one thread is freed and
    # runs the queued jobs one after another.
    gates = [threading.Event() for _ in range(8)]
    for gate in gates:
        ebot.deps.worker.submit(gate.wait, describe="test: a busy long-job thread", long=True)
    try:
        results = together(
            lambda: ebot.driver.send(click),
            lambda: ebot.driver.send(double),
            lambda: ebot.driver.send(click, retry_num=1),
            lambda: ebot.driver.send(double, retry_num=1),
        )
        assert [r.status for r in results] == [200] * 4
        texts = replies(ebot, click, double, each=2)  # every copy answered (jobs queued)
        queued_jobs_done = threading.Event()
        ebot.deps.worker.submit(queued_jobs_done.set, describe="test: after them", long=True)
        gates[0].set()
        assert queued_jobs_done.wait(timeout=20)
    finally:
        for gate in gates:
            gate.set()
    ebot.settle()

    assert len(texts) == 4 and all("DEP-1" in t for t in texts)  # every copy answered
    assert len(audited(ebot, "click:hotfix_deploy_rollback")) == 4
    assert deployments.get(ebot.deps.store, "DEP-1").state is State.ROLLED_BACK
    assert target.calls() == [["deploy", "v2.1.1"], ["rollback"]]
    assert deploy_states(ebot).count("rolling_back") == 1
    assert deploy_states(ebot).count("rolled_back") == 1


# == Playbook =============================================================================


def checkbox_request(
    bot: RunningBot, *, room: str, playbook_ts: str, phase: int, values: list[str]
) -> SlackRequest:
    """A click on a playbook phase's checkboxes: Slack sends every ticked box of the phase."""
    request = bot.driver.block_action_request(
        f"hotfix_playbook_{phase}",
        user_id="U0BOB",
        channel_id=room,
        message_ts=playbook_ts,
        block_id=f"playbook:INC-1:{phase}",
        action_type="checkboxes",
    )
    payload = request.payload
    payload["actions"][0]["selected_options"] = [
        {"text": {"type": "mrkdwn", "text": value}, "value": value} for value in values
    ]
    return SlackRequest(
        body=urlencode({"payload": json.dumps(payload)}).encode(),
        headers=request.headers,
        payload=payload,
        response_id=request.response_id,
        trigger_id=request.trigger_id,
    )


def test_a_playbook_tick_delivered_four_times_and_double_clicked_is_recorded_once(
    ebot: RunningBot,
) -> None:
    room = war_room(ebot)
    playbook_ts = incidents.get(ebot.deps.store, "INC-1").playbook_ts
    assert playbook_ts is not None
    item = playbook.items(ebot.deps.store, "INC-1")[0]
    assert item["item_id"] == "p0i0" and item["done_by"] is None
    tick = checkbox_request(ebot, room=room, playbook_ts=playbook_ts, phase=0, values=["p0i0"])
    double = checkbox_request(ebot, room=room, playbook_ts=playbook_ts, phase=0, values=["p0i0"])
    results = together(*deliveries(ebot, tick), lambda: ebot.driver.send(double))
    assert [r.status for r in results] == [200] * 5
    texts = replies(ebot, tick, each=4) + replies(ebot, double, each=1)
    ebot.settle()

    checked = [
        e
        for e in timeline.events(ebot.deps.store, incident_id="INC-1")
        if e.kind == "playbook_checked"
    ]
    assert [(e.actor, e.data["item_id"]) for e in checked] == [("U0BOB", "p0i0")]
    assert kinds(ebot).count("playbook_unchecked") == 0
    assert Counter(texts) == {f"Checklist updated: {item['text']}": 1, "Checklist unchanged.": 4}
    assert len(audited(ebot, "click:hotfix_playbook_0")) == 5


# == Found by bench/load.py (50 concurrent declarations, then `incident list`) =============


def test_the_incident_list_with_50_open_incidents_fits_in_one_slack_message(
    ebot: RunningBot,
) -> None:
    for n in range(50):
        incidents.create(
            ebot.deps.store,
            clock=ebot.deps.clock,
            new=incidents.NewIncident(
                title=f"Load test {n}",
                severity=Severity.SEV2,
                impact="high",
                description="",
                commander="U0ALICE",
                declared_by="U0ALICE",
                origin_channel_id="C0GENERAL",
                next_update_due_at=ebot.deps.clock.now(),
                request_key=None,
            ),
        )
    result = ebot.driver.slash("incident list")
    assert result.status == 200
    assert result.json["text"] == "50 open incident(s)"
    assert len(result.json["blocks"]) <= 50
