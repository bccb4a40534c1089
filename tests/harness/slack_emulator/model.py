"""The emulator's records (API calls, response_url posts, conversations, sessions), its
constants and the argument parsing helpers every API family shares."""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.harness import socket_mode

JSON = dict[str, Any]

BOT_USER_ID = "UBOT"
BOT_ID = "B0BOT"
APP_ID = "A0HOTFIX"
BOT_NAME = "hotfix-bot"

TRIGGER_TTL = 3.0  # seconds a trigger_id may be exchanged after it was issued
RESPONSE_URL_MAX_USES = 5

APP_TOKEN = "xapp-1-test-app-token"
# App-level methods (authenticated by the xapp- token) and their app-token scopes.
# Deliberately not in slack_scopes.METHOD_SCOPES, which lists bot-token methods.
APP_METHOD_SCOPES: dict[str, frozenset[str]] = {
    "apps.connections.open": frozenset({"connections:write"}),
}
SOCKET_MODE_PATH = "/socket-mode/"
_HTML_BODY = "_html_body"  # an outage's HTML page, recorded in ApiCall.response under this key

# Arguments that Slack accepts as JSON strings inside form bodies.
_JSON_STRING_ARGS = frozenset({"blocks", "attachments", "metadata", "view", "files"})

_CHANNEL_NAME_OK = re.compile(r"[a-z0-9_\-]+")
_EMOJI_NAME_OK = re.compile(r"[a-z0-9_+\-']+")


class SlackError(Exception):
    """Raised by a method handler: becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


@dataclass(frozen=True)
class ApiCall:
    """One HTTP request to ``/api/<method>`` as the emulator saw and answered it."""

    method: str
    args: JSON  # what Slack would read: query + form/multipart (+ JSON for write methods)
    content_type: str  # media type of the body ("" for none)
    status: int  # HTTP status of the answer
    response: JSON  # the JSON answer
    time: float  # emulator clock at arrival
    http_method: str = "POST"
    token: str | None = None
    raw_body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.ok else self.response.get("error")


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a response_url."""

    response_id: str
    body: Any  # parsed JSON (or the raw text when it was not JSON)
    status: int
    answer: str
    time: float


@dataclass
class _Conversation:
    id: str
    kind: str  # PUBLIC / PRIVATE / IM / MPIM
    name: str
    created: int
    creator: str
    members: list[str]
    is_archived: bool = False
    is_general: bool = False
    topic: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    im_user: str | None = None


@dataclass
class _SocketSession:
    """One accepted Socket Mode WebSocket connection."""

    id: str
    url: str
    ws: socket_mode.WebSocketConnection
    opened: float
    live: bool = False  # hello sent, not closed
    closed: float | None = None
    disconnect_reason: str | None = None
    dropped: float | None = None  # when the emulator went silent on it (emulator clock)
    received: list[JSON] = field(default_factory=list)
    envelopes: int = 0
    pings: int = 0  # pings from the app
    pongs: int = 0  # pongs from the app
    pong_payloads: deque[bytes] = field(default_factory=lambda: deque(maxlen=64))


@dataclass
class _ResponseUrl:
    id: str
    channel_id: str | None
    user_id: str | None
    message_ts: str | None
    created: float
    posts: list[ResponsePost] = field(default_factory=list)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _csv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _ts_key(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    return int(whole or 0), int((frac or "0").ljust(6, "0")[:6])


def _tz_offset(tz: str) -> int:
    try:
        from zoneinfo import ZoneInfo

        offset = datetime.now(UTC).astimezone(ZoneInfo(tz)).utcoffset()
    except Exception:
        return 0
    return int(offset.total_seconds()) if offset else 0


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    result: dict[str, Any] = {}
    if not message.is_multipart():
        return result
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if part.get_filename():
            result[str(name)] = payload
        else:
            result[str(name)] = payload.decode("utf-8", "replace")
    return result
