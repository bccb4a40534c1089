"""Socket Mode in the Slack emulator: a real Bolt app connected with
slack_bolt's builtin ``SocketModeHandler`` (slack_sdk's own WebSocket client),
plus a raw RFC 6455 client for the protocol details the SDK never exercises
(fragmentation, protocol errors, the closing handshake)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.harness.slack_emulator import APP_ID, BOT_USER_ID, SlackEmulator

pytestmark = pytest.mark.unit

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-test-app-token"
HOME_BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*No open hotfixes*"}}]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk's Socket Mode client honours these; the emulator is local.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def seed(emu: SlackEmulator) -> SlackEmulator:
    emu.add_user("U0ALICE", "alice", real_name="Alice Oncall")
    emu.add_channel("general", channel_id="C0GENERAL", members=[BOT_USER_ID, "U0ALICE"])
    return emu


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with seed(SlackEmulator()) as emulator:
        yield emulator


@pytest.fixture
def raw_emu() -> Iterator[SlackEmulator]:
    """No periodic server pings, so a raw client sees only what it provokes."""
    with seed(SlackEmulator(socket_ping_interval=None)) as emulator:
        yield emulator


def build_app(emu: SlackEmulator) -> App:
    app = App(client=WebClient(token=BOT_TOKEN, base_url=emu.api_url))

    @app.command("/hotfix")
    def hotfix(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack(f"working on: {command['text'][:40]}")
        respond(text=f"declared: {command['text'][:40]}", response_type="in_channel")

    @app.action("approve")
    def approve(ack: Any, respond: Any) -> None:
        ack()
        respond(replace_original=True, text="approved")

    @app.view("declare")
    def declare(ack: Any, view: dict[str, Any]) -> None:
        reason = view["state"]["values"]["reason"]["text"]["value"]
        if len(reason) < 5:
            ack(response_action="errors", errors={"reason": "Say a bit more"})
        else:
            ack()

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": HOME_BLOCKS})

    return app


def close_promptly(handler: SocketModeHandler) -> None:
    """``handler.close()``, without its up-to-1-second wait: slack_sdk's message
    loop blocks on its queue for 1 s at a time and only then checks ``closed``,
    so mark it closed and wake it with an empty message first."""
    handler.client.closed = True
    handler.client.enqueue_message("")
    handler.close()


@pytest.fixture
def handler(emu: SlackEmulator) -> Iterator[SocketModeHandler]:
    socket_handler = SocketModeHandler(build_app(emu), APP_TOKEN)
    socket_handler.connect()
    yield socket_handler
    close_promptly(socket_handler)


def err(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


# ------------------------------------------------------------ Bolt end to end


def test_bolt_app_over_socket_mode(emu: SlackEmulator, handler: SocketModeHandler) -> None:
    assert emu.wait_for_socket() == 1
    (opened,) = emu.calls_to("apps.connections.open")
    assert opened.ok and opened.token == APP_TOKEN
    assert opened.response["url"].startswith(f"ws://127.0.0.1:{emu.port}/socket-mode/")
    (session,) = emu.socket_sessions()
    assert session["live"] and session["url"] == opened.response["url"]

    # A slash command: Bolt puts ack() content into the socket ack's payload.
    envelope_id, response_id = emu.socket_slash("db down")
    assert emu.socket_ack(envelope_id) == {
        "envelope_id": envelope_id,
        "payload": {"text": "working on: db down"},
    }
    assert emu.wait_for_response(response_id) == [
        {"text": "declared: db down", "response_type": "in_channel"}
    ]
    assert [m["text"] for m in emu.messages("C0GENERAL")] == ["declared: db down"]
    # The ack payload is shown like an immediate slash-command response.
    assert [m["text"] for m in emu.ephemerals("C0GENERAL", "U0ALICE")] == ["working on: db down"]
    (envelope,) = emu.socket_envelopes()
    assert set(envelope) == {"envelope_id", "payload", "type", "accepts_response_payload"}
    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
    assert envelope["payload"]["command"] == "/hotfix"
    assert envelope["payload"]["response_url"].endswith(f"/response/{response_id}")

    # A long command (16-bit frame length) goes through the SDK's reader too.
    long_id, _ = emu.socket_slash("x" * 3000)
    assert emu.socket_ack(long_id)["payload"] == {"text": "working on: " + "x" * 40}

    # An Events API envelope: Bolt acks it empty, the listener publishes Home.
    event_id = emu.socket_event(
        {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home"}
    )
    assert emu.socket_ack(event_id) == {"envelope_id": event_id}
    (publish,) = emu.wait_for_call("views.publish")
    assert publish.ok and publish.token == BOT_TOKEN
    home = emu.home_view("U0ALICE")
    assert home is not None and home["blocks"] == HOME_BLOCKS
    sent = emu.socket_envelopes()[-1]
    assert (sent["type"], sent["accepts_response_payload"]) == ("events_api", False)
    assert (sent["retry_attempt"], sent["retry_reason"]) == (0, "")
    assert sent["payload"]["event"]["type"] == "app_home_opened"

    # Interactivity: a button on a message, then a modal submission whose ack
    # carries a response_action.
    blocks = [
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [{"type": "button", "action_id": "approve", "value": "DEP-1"}],
        }
    ]
    ts = emu.add_message("C0GENERAL", "approve DEP-1?", user=BOT_USER_ID, blocks=blocks)
    action_id, action_response = emu.socket_block_action("approve", value="DEP-1", message_ts=ts)
    assert emu.socket_ack(action_id) == {"envelope_id": action_id}
    assert emu.wait_for_response(str(action_response)) == [
        {"text": "approved", "replace_original": True}
    ]
    assert emu.message("C0GENERAL", ts)["text"] == "approved"  # type: ignore[index]
    assert emu.socket_envelopes()[-1]["accepts_response_payload"] is False
    values = {"reason": {"text": {"type": "plain_text_input", "value": "db"}}}
    submit_id = emu.socket_view_submission("declare", values)
    assert emu.socket_ack(submit_id)["payload"] == {
        "response_action": "errors",
        "errors": {"reason": "Say a bit more"},
    }
    assert emu.socket_envelopes()[-1]["accepts_response_payload"] is True

    # Pings both ways: the SDK pings on connect, and answers the emulator's.
    assert emu.socket_ping() == 1
    (session,) = emu.socket_sessions()
    assert session["pings"] >= 1
    assert (session["envelopes"], session["messages"]) == (5, 5)


def test_disconnect_refresh_requested_makes_the_app_reconnect(
    emu: SlackEmulator, handler: SocketModeHandler
) -> None:
    emu.wait_for_socket()
    assert emu.socket_disconnect() == 1
    assert emu.wait_for(
        lambda: (
            len(emu.calls_to("apps.connections.open")) == 2
            and emu.socket_connections() == 1
            and emu.socket_sessions()[0]["closed"] is not None
        )
    )
    old, new = emu.socket_sessions()
    assert old["disconnect_reason"] == "refresh_requested" and old["closed"] is not None
    assert new["live"] and new["url"] != old["url"]
    envelope_id, _ = emu.socket_slash("after refresh")
    assert emu.socket_ack(envelope_id)["payload"] == {"text": "working on: after refresh"}
    assert [s["envelopes"] for s in emu.socket_sessions()] == [0, 1]


def test_dropped_connection_is_replaced(emu: SlackEmulator) -> None:
    # slack_sdk reconnects after a server close from its monitor, which runs
    # every ping_interval seconds (10 by default in Bolt's handler).
    socket_handler = SocketModeHandler(build_app(emu), APP_TOKEN, ping_interval=0.2)
    socket_handler.connect()
    try:
        emu.wait_for_socket()
        assert emu.socket_close(4000, "test drop") == 1
        assert emu.wait_for(
            lambda: (
                len(emu.calls_to("apps.connections.open")) == 2 and emu.socket_connections() == 1
            )
        )
        assert [s["live"] for s in emu.socket_sessions()] == [False, True]
        envelope_id, _ = emu.socket_slash("after close")
        assert emu.socket_ack(envelope_id)["payload"] == {"text": "working on: after close"}
    finally:
        close_promptly(socket_handler)


def test_apps_connections_open_needs_the_app_token(emu: SlackEmulator) -> None:
    bot = WebClient(base_url=emu.api_url, token=BOT_TOKEN)
    assert err(lambda: bot.apps_connections_open(app_token=BOT_TOKEN)) == "not_allowed_token_type"
    assert err(lambda: bot.apps_connections_open(app_token="xapp-1-wrong")) == "invalid_auth"
    anonymous = WebClient(base_url=emu.api_url)
    assert err(lambda: anonymous.api_call("apps.connections.open")) == "not_authed"
    # ... and the app token is refused by bot-token methods.
    assert err(WebClient(base_url=emu.api_url, token=APP_TOKEN).auth_test) == (
        "not_allowed_token_type"
    )
    answer = bot.apps_connections_open(app_token=APP_TOKEN)
    assert answer["url"].startswith("ws://127.0.0.1:")
    assert answer.headers["X-OAuth-Scopes"] == "connections:write"
    calls = emu.calls_to("apps.connections.open")
    assert [(c.token, c.error) for c in calls] == [
        (BOT_TOKEN, "not_allowed_token_type"),
        ("xapp-1-wrong", "invalid_auth"),
        (None, "not_authed"),
        (APP_TOKEN, None),
    ]

    # The real handler, given the bot token as its app token, cannot connect.
    refused = SocketModeHandler(build_app(emu), BOT_TOKEN)
    try:
        assert err(refused.connect) == "not_allowed_token_type"
    finally:
        close_promptly(refused)
    assert emu.socket_connections() == 0


def test_app_token_without_connections_write_is_refused() -> None:
    with SlackEmulator(app_scopes=()) as emu:
        client = WebClient(base_url=emu.api_url, token=APP_TOKEN)
        with pytest.raises(SlackApiError) as info:
            client.apps_connections_open(app_token=APP_TOKEN)
        data = info.value.response.data
        assert isinstance(data, dict)
        assert (data["error"], data["needed"], data["provided"]) == (
            "missing_scope",
            "connections:write",
            "",
        )


def test_socket_send_needs_a_live_connection(emu: SlackEmulator) -> None:
    with pytest.raises(AssertionError, match="no live Socket Mode connection"):
        emu.socket_send("events_api", {"type": "event_callback"})
    with pytest.raises(AssertionError, match="never sent"):
        emu.socket_ack("no-such-envelope", timeout=0.05)
    with pytest.raises(AssertionError, match="live Socket Mode connection"):
        emu.wait_for_socket(timeout=0.05)


# ------------------------------------------------------- raw RFC 6455 client


def mask(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A minimal, independent WebSocket client speaking to the emulator."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        self.buffer = b""
        self.hello: dict[str, Any] = {}

    def handshake(self, **overrides: str | None) -> tuple[int, dict[str, str]]:
        self.key = base64.b64encode(os.urandom(16)).decode()
        headers: dict[str, str | None] = {
            "Host": self.host,
            "Upgrade": "websocket",
            "Connection": "keep-alive, Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
        }
        headers.update(overrides)
        lines = [f"GET {self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items() if v is not None]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode().split("\r\n")
        answer = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), answer

    def recv_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self) -> tuple[bool, int, bytes]:
        first, second = self.recv_exact(2)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.recv_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.recv_exact(8))
        return bool(first & 0x80), first & 0x0F, self.recv_exact(length)

    def recv_json(self) -> Any:
        fin, opcode, payload = self.recv_frame()
        assert (fin, opcode) == (True, 0x1)
        return json.loads(payload)

    def send_frame(
        self, opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True
    ) -> None:
        first = (0x80 if fin else 0) | opcode
        bit = 0x80 if masked else 0
        if len(payload) < 126:
            header = bytes([first, bit | len(payload)])
        elif len(payload) < 65536:
            header = bytes([first, bit | 126]) + struct.pack("!H", len(payload))
        else:
            header = bytes([first, bit | 127]) + struct.pack("!Q", len(payload))
        if masked:
            key = os.urandom(4)
            header, payload = header + key, mask(payload, key)
        self.sock.sendall(header + payload)

    def eof(self) -> bool:
        try:
            return self.sock.recv(1) == b"" and not self.buffer
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def ticket_url(emu: SlackEmulator) -> str:
    client = WebClient(base_url=emu.api_url, token=APP_TOKEN)
    return str(client.apps_connections_open(app_token=APP_TOKEN)["url"])


def connect_raw(emu: SlackEmulator) -> RawClient:
    raw = RawClient(ticket_url(emu))
    status, headers = raw.handshake()
    assert status == 101
    expected = hashlib.sha1((raw.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
    assert headers["sec-websocket-accept"] == base64.b64encode(expected.digest()).decode()
    assert headers["upgrade"].lower() == "websocket"
    hello = raw.recv_json()
    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": APP_ID}
    assert set(hello["debug_info"]) >= {"host"}
    raw.hello = hello
    return raw


def test_raw_protocol_frames(raw_emu: SlackEmulator) -> None:
    emu = raw_emu
    raw = connect_raw(emu)
    try:
        assert emu.wait_for_socket() == 1
        second = connect_raw(emu)
        assert (raw.hello["num_connections"], second.hello["num_connections"]) == (1, 2)
        assert emu.wait_for_socket(count=2) == 2
        second.close()
        assert emu.wait_for(lambda: emu.socket_connections() == 1)

        raw.send_frame(0x9, b"are you there")
        assert raw.recv_frame() == (True, 0xA, b"are you there")

        # Retry fields travel on events_api only; 64-bit frame length.
        big = {"type": "event_callback", "blob": "y" * 70_000}
        event_id = emu.socket_send("events_api", big, retry_attempt=2, retry_reason="timeout")
        envelope = raw.recv_json()
        assert envelope == {
            "envelope_id": event_id,
            "payload": big,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 2,
            "retry_reason": "timeout",
        }
        # An ack in three fragments with a ping in between; 16-bit length.
        ack = json.dumps({"envelope_id": event_id, "payload": {"note": "z" * 300}}).encode()
        raw.send_frame(0x1, ack[:10], fin=False)
        raw.send_frame(0x9, b"mid-message")
        raw.send_frame(0x0, ack[10:200], fin=False)
        raw.send_frame(0x0, ack[200:], fin=True)
        assert raw.recv_frame() == (True, 0xA, b"mid-message")
        assert emu.socket_ack(event_id) == json.loads(ack)

        interactive_id = emu.socket_send("interactive", {"type": "shortcut"})
        assert set(raw.recv_json()) == {
            "envelope_id",
            "payload",
            "type",
            "accepts_response_payload",
        }
        raw.send_frame(0x1, json.dumps({"envelope_id": interactive_id}).encode())
        assert emu.socket_ack(interactive_id) == {"envelope_id": interactive_id}
        raw.send_frame(0x1, b"not json")
        assert emu.wait_for(lambda: {"_raw": "not json"} in emu.socket_messages())

        # The emulator's ping must be answered with a pong carrying its payload.
        with ThreadPoolExecutor(1) as pool:
            pinged = pool.submit(emu.socket_ping)
            fin, opcode, payload = raw.recv_frame()
            assert (fin, opcode) == (True, 0x9) and payload
            raw.send_frame(0xA, payload)
            assert pinged.result(timeout=5) == 1

        assert emu.socket_disconnect("warning") == 1
        assert raw.recv_json()["type"] == "disconnect"

        # Closing handshake started by the client: the code is echoed.
        raw.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
        assert raw.recv_frame() == (True, 0x8, struct.pack("!H", 1000))
        assert raw.eof()
        assert emu.socket_connections() == 0
        assert emu.wait_for(lambda: emu.socket_sessions()[0]["closed"] is not None)
        closed = emu.socket_sessions()[0]
        assert (closed["close_code"], closed["close_reason"]) == (1000, "bye")
        assert closed["pings"] == 2 and closed["pongs"] == 1
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        pytest.param([(0x1, b'{"a":1}', True, False)], 1002, id="unmasked"),
        pytest.param([(0x0, b"orphan", True, True)], 1002, id="continuation-first"),
        pytest.param([(0x1, b"\xff\xfe", True, True)], 1007, id="invalid-utf8"),
        pytest.param([(0x9, b"p", False, True)], 1002, id="fragmented-ping"),
        pytest.param([(0x3, b"", True, True)], 1002, id="reserved-opcode"),
        pytest.param(
            [(0x1, b"a", False, True), (0x1, b"b", True, True)], 1002, id="text-inside-text"
        ),
    ],
)
def test_raw_protocol_errors_fail_the_connection(
    raw_emu: SlackEmulator, frames: list[tuple[int, bytes, bool, bool]], code: int
) -> None:
    raw = connect_raw(raw_emu)
    try:
        for opcode, payload, fin, masked in frames:
            raw.send_frame(opcode, payload, fin=fin, masked=masked)
        fin, opcode, payload = raw.recv_frame()
        assert (fin, opcode) == (True, 0x8)
        assert struct.unpack("!H", payload[:2])[0] == code
        assert raw.eof()
        assert raw_emu.wait_for(lambda: raw_emu.socket_connections() == 0)
    finally:
        raw.close()


def test_raw_handshake_is_validated(raw_emu: SlackEmulator) -> None:
    url = ticket_url(raw_emu)
    cases: list[tuple[str, dict[str, str | None], int]] = [
        (url.rsplit("/", 1)[0] + "/no-such-ticket", {}, 404),
        (url, {"Sec-WebSocket-Version": "8"}, 426),
        (url, {"Sec-WebSocket-Key": "too-short"}, 400),
        (url, {"Upgrade": None}, 426),
        (url, {"Connection": "keep-alive"}, 400),
    ]
    for target, overrides, status in cases:
        raw = RawClient(target)
        try:
            got, headers = raw.handshake(**overrides)
            assert got == status, (overrides, got)
            if overrides.get("Sec-WebSocket-Version"):
                assert headers["sec-websocket-version"] == "13"
        finally:
            raw.close()
    assert raw_emu.socket_sessions() == []


def test_stop_closes_socket_connections_with_going_away() -> None:
    emu = seed(SlackEmulator(socket_ping_interval=None)).start()
    raw = connect_raw(emu)
    try:
        stopper = threading.Thread(target=emu.stop)
        stopper.start()
        fin, opcode, payload = raw.recv_frame()
        assert (fin, opcode) == (True, 0x8)
        assert struct.unpack("!H", payload[:2])[0] == 1001
        raw.send_frame(0x8, payload[:2])
        stopper.join(timeout=5)
        assert not stopper.is_alive()
        assert emu.socket_connections() == 0
        assert emu.socket_sessions()[0]["close_code"] == 1001
    finally:
        raw.close()
        emu.stop()
