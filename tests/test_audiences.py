"""One message per audience, from the people's side: `--service`, `--public` and the call link.

The bot runs in HTTP mode against the Slack emulator (as in test_incidents_e2e.py); the
tests assert what was recorded on the timeline (the words customers get are the event's
`public`), what the war room, the announcement channel and the declarer saw, and that bad
input gets a clear answer and records nothing. The console gets the same flags through the
same router.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.console import Console
from bot.wiring import build_router
from handlers.core.context import Deps
from services import timeline
from services.clock import ManualClock
from services.incidents import records
from services.settings import Settings
from tests.harness.bot_actions import command, events, war_room
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import (
    ANNOUNCE,
    CREATE_SEV1,
    ESCALATE,
    block_text,
    find_message,
    incident,
    incident_settings,
    select,
    shown,
    start_incident_bot,
    text_input,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JSON = dict[str, Any]
CALL = "https://zoom.us/j/{number}?pwd=inc"
SERVICES = {"payments": {}, "checkout": {}, "search": {}}
PUBLIC = "We are investigating failed card payments. Next update in 30 minutes."
SEV1 = 'incident create --severity=sev1 --title="Payment Gateway Down" --impact=high'
NO_CUSTOMER = "The public message reached no customer"


@pytest.fixture
def abot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    running = start_incident_bot(
        slack, tmp_path, clock, incidents=incident_settings(call_link=CALL), services=SERVICES
    )
    yield running
    running.stop()


def declared_event(bot: RunningBot, incident_id: str = "INC-1") -> timeline.TimelineEvent:
    event = timeline.latest(bot.deps.store, incident_id=incident_id, kind="declared")
    assert event is not None
    return event


def header(bot: RunningBot, incident_id: str = "INC-1") -> JSON:
    """The war room's pinned header, as it stands."""
    inc = incident(bot, incident_id)
    assert inc.channel_id is not None
    (found,) = [m for m in bot.slack.messages(inc.channel_id) if m.get("ts") == inc.header_ts]
    return dict(found)


def nothing_declared(bot: RunningBot) -> bool:
    return records.open_incidents(bot.deps.store) == []


# == --service and --public on declaration ==========================================


def test_declaring_with_services_and_public_words_records_them_and_shows_the_services(
    abot: RunningBot,
) -> None:
    reply = command(
        abot, f'{SEV1} --service payments --service Checkout --service payments --public="{PUBLIC}"'
    )
    assert "INC-1 declared." in reply["text"]
    inc = incident(abot)
    # In the order typed, once each, as configured (case folded).
    assert inc.services == ("payments", "checkout")
    event = declared_event(abot)
    assert event.data["services"] == ["payments", "checkout"]
    assert event.data["public"] == PUBLIC
    # The war room's header and the company's announcement name the affected services.
    room = inc.channel_id
    assert room is not None
    assert "*Services*\npayments, checkout" in block_text(header(abot)["blocks"])
    announcement = find_message(abot.slack, ANNOUNCE, "Updates follow in this thread")
    assert "*Services*\npayments, checkout" in block_text(announcement["blocks"])
    # Nothing outside Slack is configured here: the declarer is told the words went nowhere.
    assert NO_CUSTOMER in shown(reply)


def test_an_unknown_service_is_refused_with_the_closest_name(abot: RunningBot) -> None:
    reply = command(abot, f"{SEV1} --service paymnts")
    text = shown(reply)
    assert "'paymnts' is not a configured service. Did you mean 'payments'?" in text
    assert "Services: checkout, payments, search." in text
    assert nothing_declared(abot)


def test_a_hostile_service_name_is_refused_briefly(abot: RunningBot) -> None:
    text = shown(command(abot, f'{SEV1} --service "<!channel> \u202e{"x" * 10_000}"'))
    assert "is not a configured service" in text
    assert "<!channel>" not in text  # escaped for Slack, never a ping
    assert len(text) < 2000
    assert nothing_declared(abot)


def test_a_service_with_no_services_configured_says_where_to_configure_them(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(slack, tmp_path, clock)
    try:
        text = shown(command(bot, f"{SEV1} --service payments"))
        assert "no services are configured" in text
        assert "`services:`" in text
        assert nothing_declared(bot)
    finally:
        bot.stop()


@pytest.mark.parametrize(
    ("public", "answer"),
    [
        ('--public=""', "--public is empty: nothing would be published."),
        ('--public="   "', "--public is empty"),
        (
            '--public="' + "x" * 10_000 + '"',
            "--public has 10000 characters; customers get at most 3000.",
        ),
        ('--public="Ask <@U0BOB|bob> for details"', "customers would read Slack's ids"),
        ('--public="<!channel> payments are down"', "customers would read Slack's ids"),
        ('--public="ok \u202egnp.exe"', "invisible control characters"),
    ],
    ids=["empty", "blank", "10KB", "mention", "channel-ping", "rtl-override"],
)
def test_bad_public_words_get_a_clear_answer_and_declare_nothing(
    abot: RunningBot, public: str, answer: str
) -> None:
    text = shown(command(abot, f"{SEV1} {public}"))
    assert answer in text
    assert "Nothing was published" in text or "leave --public out" in text
    assert len(text) < 2000  # the answer does not echo 10 KB back
    assert nothing_declared(abot)


def test_right_to_left_words_and_html_are_kept_as_typed(abot: RunningBot) -> None:
    # An Arabic sentence with a right-to-left mark is legitimate customer text, and HTML is
    # just characters here (each integration escapes for its own medium).
    words = "\u200fنحن نحقق في المشكلة <b>payments</b> & more"
    command(abot, f'{SEV1} --public="{words}"')
    assert declared_event(abot).data["public"] == words


# == --public on update and resolve ====================================================


def test_update_with_public_words_shows_them_to_the_war_room_and_records_them(
    abot: RunningBot,
) -> None:
    room = war_room(abot, CREATE_SEV1)
    reply = command(
        abot,
        'incident update --status=identified --message="bad deploy of the card router"'
        ' --public="We found the cause and are fixing it."',
        channel_id=room,
    )
    assert "Update posted for INC-1." in reply["text"]
    assert NO_CUSTOMER in shown(reply)
    (event,) = [e for e in events(abot) if e.kind == "status_update"]
    assert event.data["public"] == "We found the cause and are fixing it."
    assert event.data["message"] == "bad deploy of the card router"
    post = find_message(abot.slack, room, "bad deploy of the card router")
    assert "*Public:* We found the cause and are fixing it." in block_text(post["blocks"])
    # The timeline says what customers were told, word for word.
    rows = block_text(command(abot, "timeline", channel_id=room)["blocks"])
    assert (
        "Status: Identified (was Investigating) — bad deploy of the card router"
        ' · Public: "We found the cause and are fixing it."'
    ) in rows


def test_a_retried_update_with_public_words_records_and_posts_them_once(
    abot: RunningBot,
) -> None:
    room = war_room(abot, CREATE_SEV1)
    first = abot.driver.slash(
        'incident update --message="rolling back" --public="A fix is on its way."',
        channel_id=room,
    )
    again = abot.driver.replay(first, retry_num=1, retry_reason="http_timeout")
    assert again.status == 200 and first.response_id is not None
    abot.slack.wait_for_response(first.response_id, count=2)
    abot.settle()
    updates = [e for e in events(abot) if e.kind == "status_update"]
    assert [e.data["public"] for e in updates] == ["A fix is on its way."]
    posts = [m for m in abot.slack.messages(room) if "*Public:* A fix is on its way." in shown(m)]
    assert len(posts) == 1


def test_public_words_with_only_paging_configured_reach_no_customer(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    # PagerDuty is an internal audience: the declarer must not believe customers were told.
    paging = {"pagerduty": {"events_url": "http://127.0.0.1:9/v2/enqueue"}}
    bot = start_incident_bot(slack, tmp_path, clock, services=SERVICES, paging=paging)
    try:
        assert bot.deps.comms.configured
        reply = command(bot, f'{SEV1} --service payments --public="{PUBLIC}"')
        assert "INC-1 declared." in reply["text"]
        assert NO_CUSTOMER in shown(reply)
    finally:
        bot.stop()


def test_update_with_only_public_words_is_an_update(abot: RunningBot) -> None:
    room = war_room(abot, CREATE_SEV1)
    command(abot, 'incident update --public="Still investigating."', channel_id=room)
    (event,) = [e for e in events(abot) if e.kind == "status_update"]
    assert event.data["public"] == "Still investigating."
    find_message(abot.slack, room, "*Public:* Still investigating.")


def test_an_update_without_public_words_says_nothing_public(abot: RunningBot) -> None:
    room = war_room(abot, CREATE_SEV1)
    reply = command(abot, 'incident update --message="looking at logs"', channel_id=room)
    assert NO_CUSTOMER not in shown(reply)
    (event,) = [e for e in events(abot) if e.kind == "status_update"]
    assert "public" not in event.data
    post = find_message(abot.slack, room, "looking at logs")
    assert "Public:" not in shown(post)


def test_resolve_with_public_words(abot: RunningBot) -> None:
    room = war_room(abot, CREATE_SEV1)
    command(
        abot,
        'incident resolve --root-cause="expired cert on gw-3" --public="Payments work again."',
        channel_id=room,
    )
    event = timeline.latest(abot.deps.store, incident_id="INC-1", kind="resolved")
    assert event is not None and event.data["public"] == "Payments work again."
    notice = find_message(abot.slack, room, "resolved: Payment Gateway Down")
    assert "*Public:* Payments work again." in block_text(notice["blocks"])


def test_public_alone_on_resolve_still_needs_the_root_cause(abot: RunningBot) -> None:
    room = war_room(abot, CREATE_SEV1)
    text = shown(command(abot, 'incident resolve --public="Fixed."', channel_id=room))
    assert "Missing option '--root-cause'" in text
    assert incident(abot).is_open


# == the forms ==========================================================================


def test_the_declare_form_has_a_service_picker_and_a_public_message(abot: RunningBot) -> None:
    result = abot.driver.slash("incident create", channel_id="C0GENERAL")
    assert result.status == 200
    abot.settle()
    (opened,) = abot.slack.calls_to("views.open")
    blocks = {b.get("block_id"): b for b in opened.args["view"]["blocks"]}
    picker = blocks["services"]["element"]
    assert picker["type"] == "multi_static_select"
    assert [o["value"] for o in picker["options"]] == ["checkout", "payments", "search"]
    assert blocks["public"]["optional"] is True
    assert blocks["public"]["element"]["max_length"] == 3000

    values = {
        "title": text_input("Checkout errors"),
        "severity": select("sev2"),
        "impact": select("high"),
        "services": {
            "value": {
                "type": "multi_static_select",
                "selected_options": [{"value": "checkout"}, {"value": "payments"}],
            }
        },
        "public": text_input("Some checkouts fail; we are on it."),
    }
    submitted = abot.driver.view_submission(
        "hotfix_declare", values, view_id=opened.response["view"]["id"]
    )
    assert submitted.status == 200 and submitted.body == ""
    abot.settle()
    assert incident(abot).services == ("checkout", "payments")
    assert declared_event(abot).data["public"] == "Some checkouts fail; we are on it."


def test_without_services_configured_the_declare_form_has_no_picker(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(slack, tmp_path, clock)
    try:
        bot.driver.slash("incident create", channel_id="C0GENERAL")
        bot.settle()
        (opened,) = bot.slack.calls_to("views.open")
        ids = [b.get("block_id") for b in opened.args["view"]["blocks"]]
        assert "services" not in ids and "public" in ids
    finally:
        bot.stop()


def test_update_and_resolve_forms_take_a_public_message(abot: RunningBot) -> None:
    room = war_room(abot, CREATE_SEV1)
    header_ts = incident(abot).header_ts
    assert header_ts is not None
    abot.driver.block_action(
        "hotfix_post_update", value="INC-1", channel_id=room, message_ts=header_ts
    )
    (opened,) = abot.slack.calls_to("views.open")
    view_id = opened.response["view"]["id"]
    assert any(b.get("block_id") == "public" for b in opened.args["view"]["blocks"])

    refused = abot.driver.view_submission(
        "hotfix_update",
        {"message": text_input("rolling back"), "public": text_input("ping <!here> now")},
        view_id=view_id,
    )
    assert refused.json is not None and refused.json["response_action"] == "errors"
    assert "customers would read Slack's ids" in refused.json["errors"]["public"]
    too_long = abot.driver.view_submission(
        "hotfix_update",
        {"message": text_input("rolling back"), "public": text_input("y" * 3001)},
        view_id=view_id,
    )
    assert too_long.json is not None
    assert too_long.json["errors"] == {
        "public": "At most 3000 characters, this has 3001: shorten it."
    }
    abot.settle()
    assert [e for e in events(abot) if e.kind == "status_update"] == []

    ok = abot.driver.view_submission(
        "hotfix_update",
        {
            "status": select("monitoring"),
            "message": text_input("rolled back"),
            "public": text_input("A fix is in place.\n\n\n\nWe are watching it."),
        },
        view_id=view_id,
    )
    assert ok.status == 200
    abot.settle()
    (event,) = [e for e in events(abot) if e.kind == "status_update"]
    # Paragraphs kept, a wall of empty lines folded.
    assert event.data["public"] == "A fix is in place.\n\nWe are watching it."

    abot.driver.block_action("hotfix_resolve", value="INC-1", channel_id=room, message_ts=header_ts)
    resolve_view = abot.slack.calls_to("views.open")[-1]
    assert any(b.get("block_id") == "public" for b in resolve_view.args["view"]["blocks"])
    done = abot.driver.view_submission(
        "hotfix_resolve",
        {"root_cause": text_input("bad config"), "public": text_input("Resolved.")},
        view_id=resolve_view.response["view"]["id"],
    )
    assert done.status == 200
    abot.settle()
    resolved = timeline.latest(abot.deps.store, incident_id="INC-1", kind="resolved")
    assert resolved is not None and resolved.data["public"] == "Resolved."


# == the call link ======================================================================


def test_the_call_link_is_bookmarked_and_in_the_header_and_the_announcement(
    abot: RunningBot,
) -> None:
    room = war_room(abot, CREATE_SEV1)
    link = "https://zoom.us/j/1?pwd=inc"
    assert incident(abot).call_link == link
    bookmarks = [(b["title"], b["link"]) for b in abot.slack.bookmarks(room)]
    assert bookmarks[0] == ("Call", link)
    assert ("Runbook", "https://runbooks.example.com/INC-1") in bookmarks
    assert f"Call: <{link}|{link}>" in block_text(header(abot)["blocks"])
    announcement = find_message(abot.slack, ANNOUNCE, "Updates follow in this thread")
    assert f"Call: <{link}|{link}>" in block_text(announcement["blocks"])
    # Executives called in for a SEV1 get it too.
    escalation = find_message(abot.slack, ESCALATE, "Escalation: SEV1 INC-1")
    assert f"Call: <{link}|{link}>" in block_text(escalation["blocks"])
    # Repairing the war room adds no second Call bookmark.
    command(abot, "incident war-room", channel_id=room)
    assert [b["title"] for b in abot.slack.bookmarks(room)].count("Call") == 1
    # The second incident has its own call.
    war_room(abot, 'incident create --severity=sev2 --title="Search slow"')
    assert incident(abot, "INC-2").call_link == "https://zoom.us/j/2?pwd=inc"


def test_without_a_call_link_nothing_changes(
    slack: SlackEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    bot = start_incident_bot(slack, tmp_path, clock)
    try:
        room = war_room(bot, CREATE_SEV1)
        assert incident(bot).call_link is None
        assert "Call" not in [b["title"] for b in bot.slack.bookmarks(room)]
        assert "Call:" not in shown(header(bot))
        assert "Call:" not in shown(find_message(bot.slack, ANNOUNCE, "Updates follow"))
    finally:
        bot.stop()


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("ftp://zoom.us/j/{number}", "http(s) URL"),
        ("https://zoom.us/j/{numbr}", "unknown placeholder {numbr}"),
        ("https://zoom.us/j/{number}|x", "must not contain"),
        ("https://zoom.us/j/ {number}", "http(s) URL"),
        ("https://:99999/{number}", "the URL"),
    ],
)
def test_a_bad_call_link_is_refused_at_start(tmp_path: Path, link: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(
            {"store": {"path": str(tmp_path / "x.db")}, "incidents": {"call_link": link}}
        )
    assert problem in str(raised.value)


def test_a_call_link_with_the_incident_id(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "store": {"path": str(tmp_path / "x.db")},
            "incidents": {"call_link": "https://meet.example.com/{incident_id}"},
        }
    )
    assert settings.incidents.call_link == "https://meet.example.com/{incident_id}"


# == the console ========================================================================


@pytest.fixture
def console(cdeps: Deps) -> Console:
    return Console(cdeps, build_router(cdeps.settings), actor="console:alice")


def test_the_console_takes_the_same_flags(
    console: Console, cdeps: Deps, printed: io.StringIO
) -> None:
    answer = console.handle(
        'incident create --severity sev2 --title "Card declines" --service payments'
        ' --public "Some card payments fail."'
    )
    assert "INC-1 declared." in answer
    inc = records.get(cdeps.store, "INC-1")
    assert inc.services == ("payments",)
    event = timeline.latest(cdeps.store, incident_id="INC-1", kind="declared")
    assert event is not None and event.data["public"] == "Some card payments fail."
    typo = console.handle('incident create --severity sev2 --title "X" --service paymnts')
    assert "Did you mean 'payments'?" in typo
    assert records.open_incidents(cdeps.store) == [inc]
    updated = console.handle('incident update --incident INC-1 --public "Fixed soon."')
    assert "Update posted for INC-1." in updated
    assert "Public: Fixed soon." in printed.getvalue()
