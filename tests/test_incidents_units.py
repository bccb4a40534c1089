"""The small pure pieces of the incident flows: names, ids, action items, durations, forms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.core.forms import parse_state
from services.chat import Chat
from services.errors import UserFacingError
from services.incidents.lifecycle import parse_action_items
from services.incidents.model import parse_incident_id
from services.incidents.presenting import duration_text
from services.incidents.responders import is_slack_user
from services.incidents.war_room_channel import channel_name, slugify

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (1, "Payment Gateway Down", "inc-1-payment-gateway-down"),
        (12, "  Café crème: 50% of checkouts FAIL!!  ", "inc-12-cafe-creme-50-of-checkouts-fail"),
        (3, "api_v2 / eu-west-1 → 502s", "inc-3-api-v2-eu-west-1-502s"),
        (4, "数据库故障", "inc-4"),  # nothing left after transliteration: the number alone
    ],
)
def test_channel_names_follow_slacks_rules(number: int, title: str, expected: str) -> None:
    assert channel_name("inc", number, title) == expected


def test_long_titles_are_cut_to_80_characters_with_room_for_the_suffix() -> None:
    title = "The primary database cluster in eu-west-1 is refusing writes " * 3
    plain = channel_name("inc", 123456, title)
    suffixed = channel_name("inc", 123456, title, suffix="-20")
    assert len(plain) <= 80 and len(suffixed) <= 80
    assert plain.startswith("inc-123456-the-primary-database")
    assert suffixed.endswith("-20") and not suffixed.endswith("--20")
    assert not plain.endswith("-")


def test_slugify_limit_never_leaves_a_trailing_dash() -> None:
    assert slugify("ab cd", limit=3) == "ab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INC-42", "INC-42"),
        ("inc-007", "INC-7"),
        ("  INC-3 ", "INC-3"),
    ],
)
def test_incident_ids_are_normalised(text: str, expected: str) -> None:
    assert parse_incident_id(text) == expected


@pytest.mark.parametrize("text", ["42", "INC-", "INC-4a", "PROD-2847", "INC-1234567890"])
def test_malformed_incident_ids_are_explained(text: str) -> None:
    with pytest.raises(UserFacingError) as raised:
        parse_incident_id(text)
    assert raised.value.message == f"{text!r} is not an incident id."
    assert raised.value.hint == "Incident ids look like INC-42."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "add validation <@U0BOB|bob>; add alert",
            [("add validation", "U0BOB"), ("add alert", None)],
        ),
        ("<@W0ALICE> rotate the cert", [("rotate the cert", "W0ALICE")]),
        ("- first\n* second\n• third", [("first", None), ("second", None), ("third", None)]),
        ("add validation @bob", [("add validation @bob", None)]),  # a name is not an owner
        (" ; ;\n ", []),
        ("", []),
    ],
)
def test_action_items_and_their_owners(text: str, expected: list[tuple[str, str | None]]) -> None:
    assert parse_action_items(text) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=42), "42 min"),
        (timedelta(hours=1, minutes=35), "1 h 35 min"),
        (timedelta(days=2, hours=3, minutes=10), "2 d 3 h"),
        (None, None),
    ],
)
def test_durations_read_like_a_person_would_say_them(
    delta: timedelta | None, expected: str | None
) -> None:
    assert duration_text(delta) == expected


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("U0ALICE", True),
        ("W123", True),
        ("console:alice", False),
        ("S0GROUP", False),
        (None, False),
    ],
)
def test_who_counts_as_a_slack_user(actor: str | None, expected: bool) -> None:
    assert is_slack_user(actor) is expected


def test_form_state_becomes_plain_values() -> None:
    state = {
        "values": {
            "title": {"value": {"type": "plain_text_input", "value": "Checkout errors"}},
            "severity": {"value": {"type": "static_select", "selected_option": {"value": "sev2"}}},
            "impact": {"value": {"type": "static_select", "selected_option": None}},
            "commander": {"value": {"type": "users_select", "selected_user": "U0BOB"}},
            "broadcast": {
                "value": {"type": "checkboxes", "selected_options": [{"value": "broadcast"}]}
            },
        }
    }
    assert parse_state(state) == {
        "title": "Checkout errors",
        "severity": "sev2",
        "impact": None,
        "commander": "U0BOB",
        "broadcast": ["broadcast"],
    }


def test_the_console_chat_satisfies_the_chat_protocol() -> None:
    # Both chat platforms must offer every call the flows make.
    from handlers.console.chat import ConsoleChat
    from handlers.slack.gateway import SlackChat

    wanted = {name for name in vars(Chat) if not name.startswith("_")}
    for platform in (ConsoleChat, SlackChat):
        assert wanted <= set(vars(platform)), platform.__name__
