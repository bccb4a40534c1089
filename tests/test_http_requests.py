"""Hostile, malformed and oversized requests over real HTTP: 400/401/413, never a 500.

Also what the bot's log holds afterwards: a real bot process at debug level
gets an unsigned 2 MB body and a late signed command; neither is logged in
full, and no request credential (verification token, response_url,
trigger_id) reaches the log.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
import yaml

from bot.http_server import MAX_BODY_BYTES
from services.clock import ManualClock
from tests.harness.bot_process import BotProcess
from tests.harness.running_bot import RunningBot, start_bot
from tests.harness.slack_driver import SlackRequest
from tests.harness.slack_emulator import SlackEmulator

pytestmark = pytest.mark.e2e

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def form(fields: dict[str, str]) -> SlackRequest:
    return SlackRequest(body=urlencode(fields).encode(), headers=FORM, payload=fields)


@pytest.fixture
def guarded(slack: SlackEmulator, tmp_path: Path, clock: ManualClock) -> Iterator[RunningBot]:
    """A bot that serves one workspace: the Slack Connect guard is on."""
    running = start_bot(
        slack=slack,
        store_path=tmp_path / "bot.db",
        clock=clock,
        extra_settings={"slack": {"team_id": "T0TEAM"}},
    )
    yield running
    running.stop()


@pytest.mark.parametrize("timestamp", ["abc", "1.7e9", "", "12 34", "+1700000000", "9" * 40])
def test_a_timestamp_that_is_not_whole_seconds_is_401_and_audited(
    guarded: RunningBot, timestamp: str
) -> None:
    # Signed with the right secret over that very timestamp: only the timestamp is wrong.
    result = guarded.driver.slash("help", timestamp=timestamp)
    assert result.status == 401
    assert [(r["action"], r["outcome"]) for r in guarded.audit()] == [("request", "forged")]
    assert guarded.slack.responses(result.response_id or "") == []


def test_a_command_without_team_id_is_400(guarded: RunningBot) -> None:
    fields = dict(guarded.driver.slash_request("help").payload)
    del fields["team_id"]
    result = guarded.driver.send(form(fields))
    assert result.status == 400
    assert "team_id" in result.json["detail"]
    assert guarded.audit() == []  # signed by Slack's secret, so not forged; nothing ran


@pytest.mark.parametrize(
    "payload",
    [
        "{}",
        json.dumps({"type": "block_actions"}),
        json.dumps({"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": "x"}),
        json.dumps({"type": "view_submission", "user": {"id": "U0ALICE"}}),
        json.dumps({"type": "something_new", "user": {"id": "U0ALICE"}}),
    ],
    ids=["empty", "type-only", "actions-not-a-list", "view-missing", "unknown-type"],
)
def test_interaction_payloads_missing_their_parts_are_400(
    guarded: RunningBot, payload: str
) -> None:
    result = guarded.driver.send(form({"payload": payload}))
    assert result.status == 400
    assert result.json["error"] == "malformed request"


def test_malformed_requests_are_401_when_unsigned(guarded: RunningBot) -> None:
    result = guarded.driver.send(form({"payload": "{}"}), sign=False)
    assert result.status == 401
    assert [r["outcome"] for r in guarded.audit()] == ["forged"]


@pytest.mark.parametrize(
    "shape",
    ["user_team", "user_object", "no_actor_team"],
)
def test_slack_connect_events_are_answered_never_500(guarded: RunningBot, shape: str) -> None:
    event: dict[str, object] = {
        "type": "reaction_added",
        "user": "U0PARTNER",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.000001"},
    }
    if shape == "user_team":
        event["user_team"] = "T0PARTNER"
    elif shape == "user_object":
        event["user"] = {"id": "U0PARTNER", "team_id": "T0PARTNER"}
    request = guarded.driver.event_request(event)
    envelope = dict(request.payload)
    envelope["is_ext_shared_channel"] = True
    body = json.dumps(envelope).encode()
    result = guarded.driver.send(SlackRequest(body=body, headers=request.headers, payload=envelope))
    assert result.status == 200
    if shape == "user_team":
        (row,) = guarded.audit()
        assert (row["actor"], row["outcome"]) == ("U0PARTNER", "refused")
        assert "T0PARTNER" in row["detail"]


def test_a_click_from_a_partner_workspace_is_refused_and_audited(guarded: RunningBot) -> None:
    request = guarded.driver.block_action_request("hotfix_help", value="audit", user_id="U0EVE")
    payload = dict(request.payload)
    payload["user"] = {**payload["user"], "team_id": "T0PARTNER"}
    result = guarded.driver.send(form({"payload": json.dumps(payload)}))
    assert result.status == 200
    (row,) = guarded.audit()
    assert (row["actor"], row["outcome"]) == ("U0EVE", "refused")


def post_raw(url: str, *, content_length: int | None, chunk: bytes = b"") -> bytes:
    """POST headers (and, chunked, `chunk` over and over) until the bot answers."""
    parts = urlsplit(url)
    head = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.hostname}",
        *[f"{k}: {v}" for k, v in FORM.items()],
    ]
    head.append(
        f"Content-Length: {content_length}"
        if content_length is not None
        else "Transfer-Encoding: chunked"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for _ in range(4 * MAX_BODY_BYTES // max(len(chunk), 1) if chunk else 0):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the bot stopped listening: its answer is waiting
        return sock.recv(4096)


def test_a_body_over_the_limit_is_413_before_it_is_read(guarded: RunningBot) -> None:
    # Only the headers are sent: the answer cannot come from reading the body.
    answer = post_raw(guarded.url, content_length=MAX_BODY_BYTES + 1)
    assert answer.startswith(b"HTTP/1.1 413")
    # Chunked, with no length announced: refused once the limit is crossed.
    answer = post_raw(guarded.url, content_length=None, chunk=b"text=" + b"x" * 65536)
    assert answer.startswith(b"HTTP/1.1 413")
    assert guarded.audit() == []
    # A Slack-sized request is still answered.
    fields = dict(guarded.driver.slash_request("help").payload)
    fields["text"] = "help " + "y" * 1000
    assert guarded.driver.send(form(fields)).status == 200


def test_oversized_and_late_requests_are_never_logged_in_full(
    slack: SlackEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "hotfix.yml"
    config.write_text(yaml.safe_dump({"store": {"path": str(tmp_path / "bot.db")}}))
    log = tmp_path / "bot.log"
    bot = BotProcess(config=config, slack=slack, clock_file=None, log=log, verbose=True)
    try:
        assert post_raw(bot.url, content_length=2 * 1024 * 1024).startswith(b"HTTP/1.1 413")
        # Under the size limit but unsigned: Bolt's verifier logs the body it rejects.
        medium = "B" * (MAX_BODY_BYTES // 2)
        assert bot.driver.send(form({"text": medium}), sign=False).status == 401
        late = bot.driver.slash_request("help")
        stale = int(time.time()) - 10 * 60
        assert bot.driver.send(late, timestamp=stale).status == 401
        # A signed request no listener handles: Bolt warns with the whole body.
        unhandled = dict(bot.driver.slash_request("help").payload)
        unhandled["command"] = "/other"
        unhandled["text"] = "C" * 50_000
        bot.driver.send(form(unhandled))
    finally:
        bot.stop()
    text = log.read_text()
    assert "Invalid request signature detected" in text  # Bolt's line is there, cut short
    assert max(len(line) for line in text.splitlines()) < 3000
    assert "B" * 3000 not in text and "C" * 3000 not in text
    fields = late.payload
    for credential in (fields["token"], fields["response_url"], fields["trigger_id"]):
        assert credential not in text and quote(credential, safe="") not in text
