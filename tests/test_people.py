"""People named as people name them: plain `@bob` in Slack becomes the user (users.list).

The real bot, over real HTTP, against the Slack emulator (which serves users.list as
Slack documents it: cursor pagination, `limit`, `response_metadata.next_cursor`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from services.chat import ChatError
from services.clock import ManualClock
from services.errors import UserFacingError
from services.incidents import records
from tests.harness.bot_actions import command, war_room
from tests.harness.running_bot import RunningBot
from tests.harness.slack_emulator import SlackEmulator

from .test_incidents_e2e import CREATE_SEV1, incident, start_incident_bot, text_input

pytestmark = pytest.mark.e2e


@pytest.fixture
def ibot(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    # More people than one page of users.list holds (200): bob's namesake is on page 2.
    for n in range(230):
        slack.add_user(f"U1{n:04d}", f"member{n}")
    slack.add_user("U0ZOE", "zoe", real_name="Zoe Late")
    running = start_incident_bot(slack, tmp_path, clock)
    yield running
    running.stop()


def owners(bot: RunningBot) -> list[tuple[str, str | None]]:
    return [(a["text"], a["owner"]) for a in records.action_items(bot.deps.store, "INC-1")]


def test_plain_at_names_in_action_items_become_owners_via_a_cached_users_list(
    ibot: RunningBot,
) -> None:
    room = war_room(ibot, CREATE_SEV1)
    before = len(ibot.slack.calls_to("users.list"))
    reply = command(
        ibot,
        'incident resolve --root-cause="null pointer"'
        ' --action-items="add validation @bob; page earlier @zoe; add alert"',
        channel_id=room,
    )
    assert "INC-1 resolved." in reply["text"], reply
    assert owners(ibot) == [
        ("add validation", "U0BOB"),
        ("page earlier", "U0ZOE"),
        ("add alert", None),
    ]
    listed = ibot.slack.calls_to("users.list")[before:]
    # One read of the directory, page by page with Slack's cursor, for both names.
    assert len(listed) >= 2
    assert listed[0].args.get("limit") in (200, "200") and not listed[0].args.get("cursor")
    assert listed[1].args.get("cursor")


def test_an_unknown_name_is_a_clear_answer_and_nothing_is_resolved(ibot: RunningBot) -> None:
    room = war_room(ibot, CREATE_SEV1)
    reply = command(
        ibot,
        'incident resolve --root-cause="null pointer" --action-items="add validation @nobody"',
        channel_id=room,
    )
    assert "Nobody here goes by @nobody." in reply["text"], reply
    assert incident(ibot).is_open and owners(ibot) == []


def test_the_resolve_forms_owners_are_people_and_an_unknown_one_is_shown_on_the_field(
    ibot: RunningBot,
) -> None:
    room = war_room(ibot, CREATE_SEV1)
    header_ts = incident(ibot).header_ts
    ibot.driver.block_action("hotfix_resolve", value="INC-1", channel_id=room, message_ts=header_ts)
    (opened,) = ibot.slack.calls_to("views.open")
    view_id = opened.response["view"]["id"]
    values: dict[str, Any] = {
        "root_cause": text_input("expired TLS certificate"),
        "action_items": text_input("automate renewal @zed\nalert before expiry"),
    }
    refused = ibot.driver.view_submission("hotfix_resolve", values, view_id=view_id)
    assert refused.json is not None and refused.json["response_action"] == "errors"
    assert refused.json["errors"]["action_items"].startswith("Nobody here goes by @zed.")
    assert incident(ibot).is_open

    values["action_items"] = text_input("automate renewal @bob\nalert before expiry")
    result = ibot.driver.view_submission("hotfix_resolve", values, view_id=view_id)
    assert result.status == 200
    ibot.settle()
    assert owners(ibot) == [("automate renewal", "U0BOB"), ("alert before expiry", None)]


def test_a_plain_at_name_is_accepted_where_a_person_is_expected(ibot: RunningBot) -> None:
    room = war_room(ibot, CREATE_SEV1)
    reply = command(ibot, "incident commander @bob", channel_id=room)
    assert "U0BOB" in str(reply) or "bob" in reply["text"], reply
    assert incident(ibot).commander == "U0BOB"
    unknown = command(ibot, "incident scribe @nobody", channel_id=room)
    assert "Nobody here goes by @nobody." in unknown["text"]


class Pages:
    """users.list answers as Slack documents them, counted."""

    def __init__(self, members: list[dict[str, Any]], size: int = 2) -> None:
        self.members, self.size, self.calls = members, size, 0

    def __call__(self, cursor: str) -> dict[str, Any]:
        self.calls += 1
        start = int(cursor or 0)
        page = self.members[start : start + self.size]
        more = start + self.size < len(self.members)
        return {
            "members": page,
            "response_metadata": {"next_cursor": str(start + 2) if more else ""},
        }


def member(user_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "name": name, "profile": {"display_name": name}, **extra}


def test_the_directory_reads_every_page_caches_and_does_not_storm_on_typos(
    clock: ManualClock,
) -> None:
    from handlers.slack.directory import UserDirectory

    pages = Pages(
        [
            member("U1", "alice"),
            member("U2", "bob"),
            member("U3", "gone", deleted=True),
            member("U4", "robot", is_bot=True),
            member("U5", "Bob"),  # a namesake: ambiguous
        ]
    )
    directory = UserDirectory(pages, clock=clock, ttl=timedelta(minutes=30))
    assert directory.find("ALICE") == ["U1"]
    assert pages.calls == 3  # five members, two per page
    assert directory.find("bob") == ["U2", "U5"]
    assert directory.find("gone") == [] and directory.find("robot") == []
    assert directory.find("typo") == []
    assert pages.calls == 3  # a miss soon after a read does not read again
    clock.advance(timedelta(minutes=2))
    directory.find("typo")
    assert pages.calls == 6  # a miss later does (the person may have just joined)
    clock.advance(timedelta(minutes=31))
    directory.find("alice")
    assert pages.calls == 9  # and the copy expires


def test_hostile_text_around_names_is_kept_and_only_names_change() -> None:
    from handlers.core.people import mention_people

    class Chat:
        def find_users(self, name: str) -> list[str]:
            return {"bob": ["U0BOB"]}.get(name.lower(), [])

    chat: Any = Chat()
    text = "fix <@U0ALICE|alice> and mail bob@example.com; \u202eowner @bob."
    assert mention_people(chat, text) == (
        "fix <@U0ALICE|alice> and mail bob@example.com; \u202eowner <@U0BOB>."
    )
    with pytest.raises(UserFacingError, match="names 51 people"):
        mention_people(chat, " ".join(f"@p{n}" for n in range(51)))
    assert mention_people(chat, "x" * 10_000) == "x" * 10_000
    assert mention_people(chat, "tell @here and @channel") == "tell @here and @channel"

    class Down:
        def find_users(self, name: str) -> list[str]:
            raise ChatError("users.list", "slack_unreachable", retryable=True)

    with pytest.raises(UserFacingError, match=r"Could not look up @bob \(slack_unreachable\)"):
        mention_people(cast(Any, Down()), "add validation @bob")
