"""Tests of the Slack harness itself: the real slack_sdk WebClient against the
emulator, and the driver's request signing."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from tests.harness import slack_scopes
from tests.harness.slack_driver import SlackDriver, slack_signature
from tests.harness.slack_emulator import BOT_USER_ID, SlackEmulator

pytestmark = pytest.mark.unit

TOKEN = "xoxb-test-token"
SECRET = "s3cr3t-signing"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def seed(emu: SlackEmulator) -> None:
    emu.add_user("U0ALICE", "alice", real_name="Alice A", tz="Europe/Berlin")
    emu.add_user("U0BOB", "bob")
    emu.add_user("U0GONE", "gone", deleted=True)
    emu.add_channel(
        "general", channel_id="C0GENERAL", members=[BOT_USER_ID, "U0ALICE"], is_general=True
    )
    emu.add_channel("random", channel_id="C0RANDOM", members=["U0ALICE"])
    emu.add_channel("secret", channel_id="C0SECRET", is_private=True, members=["U0ALICE"])
    emu.add_channel("oncall", channel_id="C0ONCALL", is_private=True, members=[BOT_USER_ID])
    emu.add_channel("old", channel_id="C0OLD", members=[BOT_USER_ID], is_archived=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[SlackEmulator]:
    with SlackEmulator(clock=clock) as emulator:
        seed(emulator)
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.api_url, token=TOKEN)


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    data = info.value.response.data
    assert isinstance(data, dict)
    return data


def err(call: Any) -> str:
    """The Slack error code a failing call answered with."""
    return str(error_of(call)["error"])


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


# --------------------------------------------------------------------- basics


def test_urls_and_auth_test(emu: SlackEmulator, client: WebClient) -> None:
    assert emu.api_url == f"http://127.0.0.1:{emu.port}/api/"
    assert emu.base_url == f"http://127.0.0.1:{emu.port}"
    answer = client.auth_test()
    assert answer["user_id"] == BOT_USER_ID
    assert answer["bot_id"] == "B0BOT"
    assert answer["team_id"] == "T0TEAM"
    assert "chat:write" in answer.headers["X-OAuth-Scopes"].split(",")


def test_not_authed_invalid_auth_and_unknown_method(emu: SlackEmulator) -> None:
    bad = WebClient(base_url=emu.api_url, token="xoxb-wrong")
    assert err(bad.auth_test) == "invalid_auth"
    status, _, body = raw_post(emu.api_url + "auth.test", b"", {})
    assert status == 200
    assert json.loads(body) == {"ok": False, "error": "not_authed"}
    good = WebClient(base_url=emu.api_url, token=TOKEN)
    assert err(lambda: good.api_call("nope.nothing")) == "unknown_method"
    # The token may also come as a form argument.
    status, _, body = raw_post(
        emu.api_url + "auth.test",
        f"token={TOKEN}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert json.loads(body)["ok"] is True


# ------------------------------------------------------------ messages/threads


def test_post_message_thread_and_history(emu: SlackEmulator, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1* declared"}}]
    first = client.chat_postMessage(channel="C0GENERAL", text="SEV1 declared", blocks=blocks)
    assert first["channel"] == "C0GENERAL"
    assert first["message"]["blocks"] == blocks
    by_name = client.chat_postMessage(channel="#general", text="second")
    assert by_name["channel"] == "C0GENERAL"
    assert float(by_name["ts"]) > float(first["ts"])  # unique, increasing ts

    reply = client.chat_postMessage(channel="C0GENERAL", text="status", thread_ts=first["ts"])
    broadcast = client.chat_postMessage(
        channel="C0GENERAL", text="mitigated", thread_ts=first["ts"], reply_broadcast=True
    )
    assert reply["message"]["thread_ts"] == first["ts"]

    top = emu.messages("C0GENERAL")
    assert [m["text"] for m in top] == ["SEV1 declared", "second", "mitigated"]
    assert top[0]["reply_count"] == 2
    assert top[0]["latest_reply"] == broadcast["ts"]
    assert top[2]["subtype"] == "thread_broadcast"
    assert [m["text"] for m in emu.thread("C0GENERAL", first["ts"])] == [
        "SEV1 declared",
        "status",
        "mitigated",
    ]

    history = client.conversations_history(channel="C0GENERAL", limit=2)
    assert [m["text"] for m in history["messages"]] == ["mitigated", "second"]  # newest first
    assert history["has_more"] is True
    rest = client.conversations_history(
        channel="C0GENERAL", cursor=history["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["SEV1 declared"]
    replies = client.conversations_replies(channel="C0GENERAL", ts=reply["ts"])
    assert [m["text"] for m in replies["messages"]] == ["SEV1 declared", "status", "mitigated"]
    permalink = client.chat_getPermalink(channel="C0GENERAL", message_ts=reply["ts"])
    assert permalink["permalink"].endswith(
        f"/archives/C0GENERAL/p{reply['ts'].replace('.', '')}?thread_ts={first['ts']}&cid=C0GENERAL"
    )


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_errors(emu: SlackEmulator, client: WebClient) -> None:
    assert err(lambda: client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    # A private channel the bot is not in does not exist for it.
    assert err(lambda: client.chat_postMessage(channel="C0SECRET", text="x")) == (
        "channel_not_found"
    )
    assert err(lambda: client.chat_postMessage(channel="C0OLD", text="x")) == "is_archived"
    assert err(lambda: client.chat_postMessage(channel="C0GENERAL")) == "no_text"
    bad_blocks = [{"type": "section"}]
    assert (
        err(lambda: client.chat_postMessage(channel="C0GENERAL", text="x", blocks=bad_blocks))
        == "invalid_blocks"
    )
    assert (
        err(lambda: client.chat_postMessage(channel="C0GENERAL", text="x", thread_ts="1.000001"))
        == "thread_not_found"
    )
    # With all scopes (chat:write.public) a public channel needs no membership...
    assert client.chat_postMessage(channel="C0RANDOM", text="hello")["ok"]
    assert emu.calls_to("chat.postMessage")[-1].ok


def _section_with(**parts: Any) -> list[dict[str, Any]]:
    return [{"type": "section", **parts}]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        (_section_with(fields=[{"type": "mrkdwn", "text": "x" * 2001}]), "/blocks/0/fields/0/text"),
        (_section_with(text={"type": "mrkdwn", "text": "x" * 3001}), "/blocks/0/text/text"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            "/blocks/0/text/text",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "text": {"type": "plain_text", "text": "Go"},
                            "value": "v" * 2001,
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/value",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
            "/blocks/0/elements",
        ),
    ],
)
def test_blocks_over_slacks_documented_limits_are_refused(
    client: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    (message,) = caught.value.response["response_metadata"]["messages"]
    assert message.endswith(f"[json-pointer:{pointer}]")


def test_blocks_at_slacks_limits_are_accepted(client: WebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "t" * 3000}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
    ]
    assert client.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks)["ok"]


def test_not_in_channel_without_chat_write_public() -> None:
    with SlackEmulator(scopes={"chat:write", "channels:history"}) as emu:
        seed(emu)
        client = WebClient(base_url=emu.api_url, token=TOKEN)
        assert (
            err(lambda: client.chat_postMessage(channel="C0RANDOM", text="x")) == "not_in_channel"
        )
        assert err(lambda: client.conversations_history(channel="C0RANDOM")) == "not_in_channel"
        assert client.chat_postMessage(channel="C0GENERAL", text="member")["ok"]


def test_update_delete_and_dm(emu: SlackEmulator, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="deploying v1.2.3")
    updated = client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="deployed v1.2.3")
    assert updated["message"]["edited"]["user"] == BOT_USER_ID
    assert emu.message("C0GENERAL", posted["ts"])["text"] == "deployed v1.2.3"  # type: ignore[index]
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "done"}}]
    client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="done", blocks=blocks)
    assert emu.message("C0GENERAL", posted["ts"])["blocks"] == blocks  # type: ignore[index]

    human_ts = emu.add_message("C0GENERAL", "I typed this", user="U0ALICE")
    assert (
        err(lambda: client.chat_update(channel="C0GENERAL", ts=human_ts, text="x"))
        == "cant_update_message"
    )
    assert (
        err(lambda: client.chat_update(channel="C0GENERAL", ts="9.000009", text="x"))
        == "message_not_found"
    )
    assert err(lambda: client.chat_delete(channel="C0GENERAL", ts=human_ts)) == (
        "cant_delete_message"
    )
    client.chat_delete(channel="C0GENERAL", ts=posted["ts"])
    assert emu.message("C0GENERAL", posted["ts"]) is None

    dm = client.chat_postMessage(channel="U0BOB", text="you were paged")
    assert dm["channel"].startswith("D")
    opened = client.conversations_open(users="U0BOB")
    assert opened["channel"]["id"] == dm["channel"]
    assert opened["already_open"] is True
    assert emu.messages(dm["channel"])[0]["text"] == "you were paged"
    assert emu.dm_channel("U0BOB") == dm["channel"]


def test_post_ephemeral(emu: SlackEmulator, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="only you")
    assert answer["message_ts"]
    assert [m["text"] for m in emu.ephemerals("C0GENERAL", "U0ALICE")] == ["only you"]
    assert emu.messages("C0GENERAL") == []
    assert (
        err(lambda: client.chat_postEphemeral(channel="C0GENERAL", user="U0BOB", text="x"))
        == "user_not_in_channel"
    )


# ------------------------------------------------------------------ channels


def test_channel_creation_rules(emu: SlackEmulator, client: WebClient) -> None:
    created = client.conversations_create(name="inc-42-db_latency", is_private=True)
    channel = created["channel"]
    assert channel["is_private"] is True
    assert channel["is_member"] is True
    assert emu.members(channel["id"]) == [BOT_USER_ID]
    assert emu.channel_by_name("inc-42-db_latency")["id"] == channel["id"]  # type: ignore[index]

    cases = {
        "": "invalid_name_required",
        "Inc-42": "invalid_name_specials",
        "inc 42": "invalid_name_specials",
        "inc.42": "invalid_name_specials",
        "x" * 81: "invalid_name_maxlength",
        "---": "invalid_name_punctuation",
        "inc-42-db_latency": "name_taken",
        "old": "name_taken",  # archived channels keep their name
        "secret": "name_taken",  # even when the bot cannot see the channel
    }
    for name, error in cases.items():
        assert err(lambda n=name: client.conversations_create(name=n)) == error, name
    assert client.conversations_create(name="x" * 80)["ok"]


def test_invite_errors(emu: SlackEmulator, client: WebClient) -> None:
    room = client.conversations_create(name="inc-7")["channel"]["id"]
    ok = client.conversations_invite(channel=room, users=["U0ALICE", "U0BOB"])
    assert ok["ok"]
    assert emu.members(room) == [BOT_USER_ID, "U0ALICE", "U0BOB"]

    def invite(channel: str, users: str) -> dict[str, Any]:
        return error_of(lambda: client.conversations_invite(channel=channel, users=users))

    assert invite(room, "U0ALICE")["error"] == "already_in_channel"
    assert invite(room, "U0NOBODY")["error"] == "user_not_found"
    assert invite(room, BOT_USER_ID)["error"] == "cant_invite_self"
    assert invite("C0NOPE", "U0ALICE")["error"] == "channel_not_found"
    assert invite("C0OLD", "U0ALICE")["error"] == "is_archived"
    assert invite("C0RANDOM", "U0BOB")["error"] == "not_in_channel"

    emu.add_user("U0CAROL", "carol")
    mixed = invite(room, "U0CAROL,U0NOBODY,U0ALICE")
    assert mixed["error"] == "user_not_found"
    assert mixed["errors"] == [
        {"user": "U0NOBODY", "ok": False, "error": "user_not_found"},
        {"user": "U0ALICE", "ok": False, "error": "already_in_channel"},
    ]
    assert "U0CAROL" not in emu.members(room)  # nothing happens without force
    forced = client.conversations_invite(channel=room, users="U0CAROL,U0NOBODY", force=True)
    assert forced["errors"][0]["user"] == "U0NOBODY"
    assert "U0CAROL" in emu.members(room)


def test_conversation_reads_and_channel_furniture(emu: SlackEmulator, client: WebClient) -> None:
    info = client.conversations_info(channel="C0GENERAL", include_num_members=True)
    assert info["channel"]["name"] == "general"
    assert info["channel"]["num_members"] == 2
    assert client.conversations_members(channel="C0GENERAL")["members"] == [BOT_USER_ID, "U0ALICE"]
    names = {
        c["name"]
        for c in client.conversations_list(types="public_channel,private_channel")["channels"]
    }
    assert names == {"general", "random", "oncall", "old"}  # not the private "secret"
    assert client.conversations_join(channel="C0RANDOM")["ok"]
    assert BOT_USER_ID in emu.members("C0RANDOM")
    assert client.conversations_join(channel="C0RANDOM")["warning"] == "already_in_channel"
    client.conversations_setTopic(channel="C0ONCALL", topic="SEV1 | IC @alice")
    assert emu.channel("C0ONCALL")["topic"]["value"] == "SEV1 | IC @alice"  # type: ignore[index]
    assert (
        err(lambda: client.conversations_setPurpose(channel="C0ONCALL", purpose="x" * 251))
        == "too_long"
    )
    assert (
        err(lambda: client.conversations_kick(channel="C0GENERAL", user="U0ALICE"))
        == "cant_kick_from_general"
    )
    emu.add_members("C0ONCALL", "U0ALICE")
    client.conversations_kick(channel="C0ONCALL", user="U0ALICE")
    assert emu.members("C0ONCALL") == [BOT_USER_ID]
    client.conversations_archive(channel="C0ONCALL")
    assert emu.channel("C0ONCALL")["is_archived"] is True  # type: ignore[index]
    assert err(lambda: client.conversations_archive(channel="C0ONCALL")) == "already_archived"

    bookmark = client.bookmarks_add(
        channel_id="C0GENERAL", title="Runbook", type="link", link="https://runbooks/db"
    )["bookmark"]
    assert bookmark["title"] == "Runbook"
    assert client.bookmarks_list(channel_id="C0GENERAL")["bookmarks"] == [bookmark]
    assert (
        err(
            lambda: client.bookmarks_add(
                channel_id="C0GENERAL", title="x", type="link", link="ftp:/x"
            )
        )
        == "invalid_link"
    )

    ts = client.chat_postMessage(channel="C0GENERAL", text="pin me")["ts"]
    client.pins_add(channel="C0GENERAL", timestamp=ts)
    assert [m["ts"] for m in emu.pins("C0GENERAL")] == [ts]
    assert client.pins_list(channel="C0GENERAL")["items"][0]["message"]["text"] == "pin me"
    assert err(lambda: client.pins_add(channel="C0GENERAL", timestamp=ts)) == "already_pinned"
    assert err(lambda: client.pins_add(channel="C0GENERAL", timestamp="1.1")) == (
        "message_not_found"
    )
    client.reactions_add(channel="C0GENERAL", timestamp=ts, name="eyes")
    assert (
        err(lambda: client.reactions_add(channel="C0GENERAL", timestamp=ts, name="eyes"))
        == "already_reacted"
    )
    got = client.reactions_get(channel="C0GENERAL", timestamp=ts)
    assert got["message"]["reactions"] == [{"name": "eyes", "users": [BOT_USER_ID], "count": 1}]


# ------------------------------------------------------------------- users


def test_users_and_usergroups(emu: SlackEmulator, client: WebClient) -> None:
    alice = client.users_info(user="U0ALICE")["user"]
    assert alice["real_name"] == "Alice A"
    assert alice["tz"] == "Europe/Berlin"
    assert alice["tz_offset"] in (3600, 7200)
    assert err(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == "U0BOB"
    assert err(lambda: client.users_lookupByEmail(email="x@y.z")) == "users_not_found"
    ids = [u["id"] for u in client.users_list()["members"]]
    assert ids[:3] == [BOT_USER_ID, "U0ALICE", "U0BOB"]

    group = emu.add_usergroup("sre-oncall", ["U0ALICE", "U0BOB"], name="SRE on call")
    assert group.startswith("S")
    assert client.usergroups_users_list(usergroup=group)["users"] == ["U0ALICE", "U0BOB"]
    assert err(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    listed = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["handle"], g["users"]) for g in listed] == [("sre-oncall", ["U0ALICE", "U0BOB"])]


# ------------------------------------------------------------------ scopes


def test_missing_scope_with_limited_scopes() -> None:
    granted = {"chat:write", "channels:read"}
    with SlackEmulator(scopes=granted) as emu:
        seed(emu)
        client = WebClient(base_url=emu.api_url, token=TOKEN)
        answer = error_of(lambda: client.conversations_create(name="inc-1"))
        assert answer["error"] == "missing_scope"
        assert (
            set(answer["needed"].split(",")) == slack_scopes.METHOD_SCOPES["conversations.create"]
        )
        assert set(answer["provided"].split(",")) == granted
        assert error_of(lambda: client.users_info(user="U0ALICE"))["needed"] == "users:read"
        # The kind of conversation refines the scope: groups:read for a private one.
        assert client.conversations_info(channel="C0GENERAL")["ok"]
        refined = error_of(lambda: client.conversations_info(channel="C0ONCALL"))
        assert (refined["error"], refined["needed"]) == ("missing_scope", "groups:read")
        assert emu.calls_to("users.info")[0].error == "missing_scope"


def test_scope_table_and_helpers() -> None:
    assert slack_scopes.METHOD_SCOPES["chat.postMessage"] == {"chat:write"}
    assert {"channels:manage", "groups:write"} <= slack_scopes.METHOD_SCOPES["conversations.invite"]
    assert slack_scopes.METHOD_SCOPES["views.open"] == frozenset()
    assert slack_scopes.missing_scopes("auth.test", set()) == frozenset()
    assert slack_scopes.missing_scopes("users.info", None) == frozenset()
    assert slack_scopes.missing_scopes("users.info", {"chat:write"}) == {"users:read"}
    assert slack_scopes.missing_scopes("conversations.open", {"im:write"}) == frozenset()
    assert "conversations.info" in slack_scopes.READ_METHODS
    assert "chat.postMessage" not in slack_scopes.READ_METHODS


# --------------------------------------------------------- argument encodings


def test_json_args_are_ignored_by_read_methods(emu: SlackEmulator, client: WebClient) -> None:
    answer = error_of(lambda: client.api_call("conversations.info", json={"channel": "C0GENERAL"}))
    assert answer["error"] == "channel_not_found"
    assert emu.calls_to("conversations.info")[-1].args == {}
    assert emu.calls_to("conversations.info")[-1].content_type == "application/json"
    # Same call as a form body works; a write method reads JSON.
    assert client.api_call("conversations.info", params={"channel": "C0GENERAL"})["ok"]
    posted = client.api_call("chat.postMessage", json={"channel": "C0GENERAL", "text": "json"})
    assert posted["message"]["text"] == "json"


def test_form_json_strings_and_query_string(emu: SlackEmulator) -> None:
    blocks = [{"type": "divider"}]
    body = f"channel=C0GENERAL&text=form&blocks={json.dumps(blocks)}"
    status, _, raw = raw_post(
        emu.api_url + "chat.postMessage",
        body.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 200
    assert json.loads(raw)["message"]["blocks"] == blocks
    assert emu.calls_to("chat.postMessage")[-1].args["blocks"] == blocks  # decoded
    url = f"{emu.api_url}conversations.info?channel=C0GENERAL&token={TOKEN}"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert json.loads(response.read())["channel"]["id"] == "C0GENERAL"
    assert emu.calls_to("conversations.info")[-1].http_method == "GET"


# -------------------------------------------------------------- controls


def test_rate_limit_answers_429_and_sdk_retries(emu: SlackEmulator) -> None:
    emu.rate_limit("chat.postMessage", retry_after=7)
    status, headers, raw = raw_post(
        emu.api_url + "chat.postMessage",
        json.dumps({"channel": "C0GENERAL", "text": "x"}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert json.loads(raw) == {"ok": False, "error": "ratelimited"}

    emu.rate_limit("chat.postMessage", retry_after=0)
    plain = WebClient(base_url=emu.api_url, token=TOKEN)
    with pytest.raises(SlackApiError) as info:
        plain.chat_postMessage(channel="C0GENERAL", text="x")
    assert info.value.response.status_code == 429

    emu.rate_limit("chat.postMessage", retry_after=0)
    retrying = WebClient(
        base_url=emu.api_url,
        token=TOKEN,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert retrying.chat_postMessage(channel="C0GENERAL", text="after retry")["ok"]
    statuses = [c.status for c in emu.calls_to("chat.postMessage")]
    assert statuses == [429, 429, 429, 200]
    assert [m["text"] for m in emu.messages("C0GENERAL")] == ["after retry"]


def test_fail_and_outage(emu: SlackEmulator, client: WebClient) -> None:
    emu.fail("conversations.create", "restricted_action", times=2, detail="by test")
    for _ in range(2):
        answer = error_of(lambda: client.conversations_create(name="inc-9"))
        assert answer == {"ok": False, "error": "restricted_action", "detail": "by test"}
    assert client.conversations_create(name="inc-9")["ok"]

    emu.outage(503, times=1)
    with pytest.raises(SlackApiError) as info:
        client.auth_test()
    assert info.value.response.status_code == 503
    assert client.auth_test()["ok"]
    emu.outage(500)
    for _ in range(2):
        with pytest.raises(SlackApiError):
            client.auth_test()
    emu.end_outage()
    assert client.auth_test()["ok"]


# ------------------------------------------------------------------- views


def modal(title: str = "Declare", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "declare",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        **extra,
    }


def test_views_triggers_expire_with_injected_clock(
    emu: SlackEmulator, client: WebClient, clock: FakeClock
) -> None:
    trigger = emu.new_trigger_id("U0ALICE")
    clock.advance(2.9)
    opened = client.views_open(trigger_id=trigger, view=modal(private_metadata="INC-1"))
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["private_metadata"] == "INC-1"
    assert emu.view(view["id"])["callback_id"] == "declare"  # type: ignore[index]
    assert err(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "exchanged_trigger_id"
    )

    late = emu.new_trigger_id("U0ALICE")
    clock.advance(3.5)
    assert err(lambda: client.views_open(trigger_id=late, view=modal())) == "expired_trigger_id"
    assert err(lambda: client.views_open(trigger_id="1.2.abc", view=modal())) == (
        "invalid_trigger_id"
    )
    invalid = error_of(
        lambda: client.views_open(trigger_id=emu.new_trigger_id(), view=modal(title="x" * 30))
    )
    assert invalid["error"] == "invalid_arguments"
    assert invalid["response_metadata"]["messages"]

    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=modal("Step 2"))
    assert updated["view"]["title"]["text"] == "Step 2"
    assert (
        err(lambda: client.views_update(view_id=view["id"], hash=view["hash"], view=modal()))
        == "hash_conflict"
    )
    assert err(lambda: client.views_update(view_id="V0NOPE", view=modal())) == "not_found"
    pushed = client.views_push(trigger_id=emu.new_trigger_id("U0ALICE"), view=modal("Confirm"))
    assert pushed["view"]["root_view_id"] == view["id"]
    assert [v["id"] for v in emu.open_views("U0ALICE")] == [view["id"], pushed["view"]["id"]]

    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    published = client.views_publish(user_id="U0ALICE", view=home)
    assert emu.home_view("U0ALICE")["id"] == published["view"]["id"]  # type: ignore[index]
    assert err(lambda: client.views_publish(user_id="U0ALICE", view=modal())) == (
        "invalid_arguments"
    )


# ------------------------------------------------------------------- files


def test_files_upload_v2_end_to_end(emu: SlackEmulator, client: WebClient) -> None:
    answer = client.files_upload_v2(
        channel="C0GENERAL",
        content="timeline:\n10:00 declared\n",
        filename="INC-1-timeline.txt",
        title="INC-1 timeline",
        initial_comment="Postmortem draft attached",
    )
    file_id = answer["file"]["id"]
    assert answer["file"]["title"] == "INC-1 timeline"
    assert emu.file_content(file_id) == b"timeline:\n10:00 declared\n"
    [shared] = emu.files("C0GENERAL")
    assert shared["id"] == file_id
    assert shared["name"] == "INC-1-timeline.txt"
    assert shared["mimetype"] == "text/plain"
    [message] = emu.messages("C0GENERAL")
    assert message["text"] == "Postmortem draft attached"
    assert message["files"][0]["id"] == file_id
    assert [c.method for c in emu.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    # Completing an unknown (or already completed) file fails as on Slack.
    again = error_of(
        lambda: client.files_completeUploadExternal(files=[{"id": file_id}], channel_id="C0GENERAL")
    )
    assert again["error"] == "file_not_found"


# ------------------------------------------------------------- response_url


def test_response_url_recording(emu: SlackEmulator) -> None:
    ts = emu.add_message("C0GENERAL", "button here", user=BOT_USER_ID)
    rid, url = emu.new_response_url(channel_id="C0GENERAL", user_id="U0ALICE", message_ts=ts)
    headers = {"Content-Type": "application/json"}

    status, _, body = raw_post(url, json.dumps({"text": "working on it"}).encode(), headers)
    assert (status, body) == (200, b"ok")
    assert [m["text"] for m in emu.ephemerals("C0GENERAL", "U0ALICE")] == ["working on it"]

    in_channel = {"response_type": "in_channel", "text": "INC-1 declared"}
    raw_post(url, json.dumps(in_channel).encode(), headers)
    assert [m["text"] for m in emu.messages("C0GENERAL")] == ["button here", "INC-1 declared"]

    raw_post(url, json.dumps({"replace_original": True, "text": "approved"}).encode(), headers)
    assert emu.message("C0GENERAL", ts)["text"] == "approved"  # type: ignore[index]

    status, _, body = raw_post(url, b"{not json", headers)
    assert (status, body) == (400, b"invalid_payload")
    bodies = emu.wait_for_response(rid, count=3)
    assert bodies[0] == {"text": "working on it"}
    assert len(emu.response_posts(rid)) == 4

    for n in range(2):
        raw_post(url, json.dumps({"text": f"more {n}"}).encode(), headers)
    status, _, body = raw_post(url, json.dumps({"text": "sixth"}).encode(), headers)
    assert (status, body) == (404, b"used_url")
    status, _, _ = raw_post(f"{emu.base_url}/response/RNOPE", b"{}", headers)
    assert status == 404


# ------------------------------------------------------------------ waiting


def test_wait_for_without_sleeping(emu: SlackEmulator, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.05)
        client.chat_postMessage(channel="C0GENERAL", text="from a worker")

    worker = threading.Thread(target=later)
    worker.start()
    assert emu.wait_for(lambda: len(emu.messages("C0GENERAL")) == 1, timeout=5)
    [call] = emu.wait_for_call("chat.postMessage", timeout=5)
    assert call.args["text"] == "from a worker"
    worker.join()
    assert emu.wait_for(lambda: False, timeout=0.05) is False
    with pytest.raises(AssertionError, match=r"views\.open"):
        emu.wait_for_call("views.open", timeout=0.05)
    with pytest.raises(AssertionError):
        emu.wait_for_response("RNOPE", timeout=0.05)


# ------------------------------------------------------------------ driver


def make_driver(
    emu: SlackEmulator, bot_url: str = "http://127.0.0.1:9/slack/events"
) -> SlackDriver:
    return SlackDriver(bot_url=bot_url, signing_secret=SECRET, emulator=emu, clock=time.time)


def test_driver_signature_verifies_with_slack_sdk(emu: SlackEmulator) -> None:
    driver = make_driver(emu)
    request = driver.slash_request("declare SEV1 db down", channel_id="C0GENERAL")
    headers = driver.sign(request.body)
    assert headers["X-Slack-Signature"].startswith("v0=")
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(request.body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(request.body, headers)
    forged = driver.sign(request.body, secret="forged")
    assert not verifier.is_valid_request(request.body, forged)
    stale = driver.sign(request.body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(request.body, stale)
    assert not verifier.is_valid_request(request.body + b"x", headers)
    ts = headers["X-Slack-Request-Timestamp"]
    assert headers["X-Slack-Signature"] == slack_signature(SECRET, ts, request.body)

    fields = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    assert fields["command"] == "/hotfix"
    assert fields["text"] == "declare SEV1 db down"
    assert fields["channel_name"] == "general"
    assert fields["user_name"] == "alice"
    assert fields["is_enterprise_install"] == "false"
    assert "enterprise_id" not in fields
    assert fields["response_url"].startswith(f"{emu.base_url}/response/")
    assert fields["trigger_id"] == request.trigger_id
    assert request.response_id is not None


def test_driver_payload_shapes(emu: SlackEmulator) -> None:
    driver = make_driver(emu)
    blocks = [
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [{"type": "button", "action_id": "approve", "value": "DEP-1"}],
        }
    ]
    ts = emu.add_message("C0GENERAL", "approve?", user=BOT_USER_ID, blocks=blocks)
    action = driver.block_action_request("approve", value="DEP-1", message_ts=ts)
    payload = json.loads(parse_qs(action.body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": "U0ALICE",
        "username": "alice",
        "name": "alice",
        "team_id": "T0TEAM",
    }
    assert payload["actions"][0]["block_id"] == "approval"
    assert payload["actions"][0]["value"] == "DEP-1"
    assert payload["message"]["blocks"] == blocks
    assert payload["container"]["message_ts"] == ts
    assert payload["response_url"].endswith(f"/response/{action.response_id}")

    submission = driver.view_submission_request(
        "declare", {"title": {"value": {"type": "plain_text_input", "value": "DB"}}}
    )
    view = submission.payload["view"]
    assert view["callback_id"] == "declare"
    assert view["state"]["values"]["title"]["value"]["value"] == "DB"

    event = driver.event_request({"type": "app_mention", "text": "<@UBOT> status"}, event_id="Ev1")
    assert event.payload["type"] == "event_callback"
    assert event.payload["event_id"] == "Ev1"
    assert event.payload["authorizations"][0]["user_id"] == BOT_USER_ID
    assert "event_ts" in event.payload["event"]


class _Capture(BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((dict(self.headers.items()), body))
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_driver_sends_signed_requests_and_replays(emu: SlackEmulator) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []
    handler = type("Capture", (_Capture,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        driver = make_driver(emu, f"http://127.0.0.1:{server.server_address[1]}/slack/events")
        result = driver.slash("status")
        assert result.status == 200
        assert result.json == {"ok": True}
        headers, body = seen[0]
        assert body == result.raw_body
        assert SignatureVerifier(SECRET).is_valid_request(body, headers)
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"

        retry = driver.replay(result, retry_num=1)
        retry_headers, retry_body = seen[1]
        assert retry_body == body  # same body, same trigger id
        assert retry_headers["X-Slack-Retry-Num"] == "1"
        assert retry_headers["X-Slack-Retry-Reason"] == "http_timeout"
        assert retry.trigger_id == result.trigger_id

        driver.event({"type": "app_mention", "text": "hi"}, sign=False)
        assert "X-Slack-Signature" not in seen[2][0]
        assert json.loads(seen[2][1])["type"] == "event_callback"
        driver.url_verification("challenge-123", secret="forged")
        assert not SignatureVerifier(SECRET).is_valid_request(seen[3][1], seen[3][0])
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------- end to end with a real Bolt app


def test_bolt_app_against_driver_and_emulator(emu: SlackEmulator) -> None:
    from slack_bolt import App, BoltRequest

    app = App(
        token=TOKEN,
        signing_secret=SECRET,
        client=WebClient(base_url=emu.api_url, token=TOKEN),
    )

    @app.command("/hotfix")
    def hotfix(ack: Any, respond: Any, client: WebClient, command: dict[str, Any]) -> None:
        ack("on it")
        respond(text=f"declared: {command['text']}", response_type="in_channel")
        client.chat_postEphemeral(
            channel=command["channel_id"], user=command["user_id"], text="you are IC"
        )

    @app.action("approve")
    def approve(ack: Any, respond: Any) -> None:
        ack()
        respond(replace_original=True, text="approved")

    class BoltHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            headers: dict[str, str | Sequence[str]] = {
                k.lower(): v for k, v in self.headers.items()
            }
            answer = app.dispatch(BoltRequest(body=body, headers=headers))
            payload = answer.body.encode()
            self.send_response(answer.status)
            for name, values in answer.headers.items():
                for value in values:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BoltHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        driver = make_driver(emu, f"http://127.0.0.1:{server.server_address[1]}/slack/events")
        result = driver.slash("db down")
        assert (result.status, result.body) == (200, "on it")
        assert emu.wait_for_response(str(result.response_id)) == [
            {"text": "declared: db down", "response_type": "in_channel"}
        ]
        assert emu.wait_for(lambda: bool(emu.ephemerals("C0GENERAL", "U0ALICE")))
        assert [m["text"] for m in emu.messages("C0GENERAL")] == ["declared: db down"]

        assert driver.slash("x", secret="forged").status == 401
        assert driver.slash("x", timestamp=int(time.time()) - 600).status == 401
        assert driver.slash("x", sign=False).status == 401

        blocks = [
            {
                "type": "actions",
                "block_id": "approval",
                "elements": [{"type": "button", "action_id": "approve", "value": "DEP-1"}],
            }
        ]
        ts = emu.add_message("C0GENERAL", "approve DEP-1?", user=BOT_USER_ID, blocks=blocks)
        clicked = driver.block_action("approve", value="DEP-1", message_ts=ts)
        assert clicked.status == 200
        assert emu.wait_for(lambda: emu.message("C0GENERAL", ts)["text"] == "approved")  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()
