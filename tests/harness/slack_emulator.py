"""A stateful emulator of the Slack Web API on a localhost port.

The bot talks to it with the real ``slack_sdk.WebClient(base_url=emulator.api_url)``
over real HTTP, so every request goes through the SDK's encoding (JSON bodies
for chat.* and views.*, form bodies or query strings for the rest) exactly as
it would against slack.com.

What it keeps faithful to Slack's documented behaviour:

* API errors are HTTP 200 with ``{"ok": false, "error": "..."}``; rate limits
  are HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
  With ``rate_limits=True`` each method is held to its published tier per token
  on the emulator clock (``tests/harness/slack_rate_limits.py``); otherwise only
  :meth:`SlackEmulator.rate_limit` answers 429.
* Arguments come from the query string, a form body (structured arguments such
  as ``blocks`` are JSON strings inside it), a multipart body, or a JSON body.
  A JSON body's arguments are ignored by read methods (see
  ``slack_scopes.READ_METHODS``) and its ``token`` is never read: a JSON call
  must authenticate with ``Authorization: Bearer``.
* Scopes: a token built with a limited scope set gets ``missing_scope`` (with
  ``needed`` and ``provided``), refined by conversation kind for the
  Conversations API; responses carry ``X-OAuth-Scopes``.
* Visibility: a private channel (or DM) the bot is not a member of does not
  exist for it (``channel_not_found``), as on Slack; a public channel the bot
  is not in answers ``not_in_channel`` to posting unless ``chat:write.public``
  is granted, and to history reads.

Deliberate simplifications (documented so tests do not rely on them): no
system messages (joins, topic changes) are posted into channels; file shares
happen synchronously; an unknown ``thread_ts`` is refused with
``thread_not_found`` instead of creating an orphan reply.

Waiting: :meth:`SlackEmulator.wait_for` returns a bool (True when the predicate
held before the timeout); :meth:`wait_for_call` and :meth:`wait_for_response`
return the matching records and raise ``AssertionError`` on timeout.

Socket Mode (``apps.connections.open`` plus a WebSocket endpoint on the same
port, see ``tests/harness/socket_mode.py`` for the RFC 6455 side):

* ``apps.connections.open`` needs the APP-level token (``app_token``, scope
  ``connections:write``): the bot token gets ``not_allowed_token_type``, a
  wrong one ``invalid_auth``, none ``not_authed``; the app token used on a
  bot-token method gets ``not_allowed_token_type`` too.  The answer's
  ``url`` is ``ws://127.0.0.1:PORT/socket-mode/<ticket>``.
* On connect the app gets ``hello``; the emulator answers pings with pongs and
  pings the app every ``socket_ping_interval`` seconds (Slack pings too).
* Tests push envelopes with :meth:`SlackEmulator.socket_send` (or the
  ``socket_slash`` / ``socket_event`` / ``socket_block_action`` /
  ``socket_view_submission`` builders, which reuse the driver's payload
  shapes) and read the app's acknowledgement with :meth:`socket_ack`.  As on
  Slack, ``retry_attempt`` / ``retry_reason`` appear only on ``events_api``
  envelopes, and the payload of a slash command's ack is shown like an
  immediate HTTP response (ephemeral to the invoking user unless
  ``response_type`` is ``in_channel``); other ack payloads are only recorded.
* Reconnects: :meth:`SlackEmulator.socket_disconnect` sends ``disconnect``
  (``refresh_requested``, ``warning``...) and, with ``close_after``, closes
  the old connection that many seconds later, as Slack does; envelopes go to
  the newest connection that was not told to disconnect.
  :meth:`SlackEmulator.socket_drop_silently` cuts a connection off like a dead
  network path (no answers, no close frame, TCP left open).
* Simplifications: a ticket URL may be connected to more than once and does
  not expire; unacknowledged envelopes are never retried; Slack's limit of
  10 connections per app is not enforced.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import mimetypes
import re
import secrets
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.harness import slack_rate_limits, slack_scopes, socket_mode
from tests.harness.block_kit import block_errors
from tests.harness.slack_scopes import IM, MPIM, PRIVATE, PUBLIC

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


class SlackEmulator:
    """A stateful Slack Web API on ``127.0.0.1:<random port>``.

    Use as a context manager (``with SlackEmulator() as slack: ...``) or call
    :meth:`start` / :meth:`stop`.  All state lives behind one lock; every
    public accessor returns deep copies.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        scopes: Iterable[str] | None = None,
        team_id: str = "T0TEAM",
        clock: Callable[[], float] = time.time,
        team_name: str = "Hotfix Test",
        team_domain: str = "hotfix-test",
        app_token: str = APP_TOKEN,
        app_scopes: Iterable[str] = ("connections:write",),
        socket_ping_interval: float | None = 0.1,
        rate_limits: bool = False,
    ) -> None:
        """``app_token`` / ``app_scopes``: the app-level token Socket Mode needs.
        ``rate_limits``: enforce Slack's published per-method tiers on the
        emulator clock (see ``tests/harness/slack_rate_limits.py``); off by
        default, where only :meth:`rate_limit` answers 429.
        ``socket_ping_interval``: how often the emulator pings each Socket Mode
        connection (None: never).  Frequent pings also let slack_sdk's client,
        whose reads block up to 3 s, notice a local close() promptly."""
        self.bot_token = bot_token
        self.app_token = app_token
        self.app_scopes = frozenset(app_scopes)
        self.socket_ping_interval = socket_ping_interval
        self.scopes: frozenset[str] | None = None if scopes is None else frozenset(scopes)
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.clock = clock
        # Crash tests: called with (method, "before"|"after") around each Web API call and
        # response_url post, outside the emulator's lock; it may kill the bot right there.
        # True from "before" drops the call unseen (the connection is closed, nothing done).
        self.call_hook: Callable[[str, str], bool | None] | None = None

        self._lock = threading.RLock()
        self._changed = threading.Condition()
        self._version = 0

        self._seq = itertools.count(1)
        self._last_ts_micro = 0
        self._users: dict[str, JSON] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._messages: dict[str, dict[str, JSON]] = {}
        self._ephemerals: dict[tuple[str, str], list[JSON]] = {}
        self._bookmarks: dict[str, list[JSON]] = {}
        self._pins: dict[str, list[JSON]] = {}
        self._usergroups: dict[str, JSON] = {}
        self._views: dict[str, JSON] = {}
        self._view_users: dict[str, str] = {}
        self._external_ids: dict[str, str] = {}
        self._home_views: dict[str, str] = {}
        self._modal_stacks: dict[str, list[str]] = {}
        self._triggers: dict[str, JSON] = {}
        self._files: dict[str, JSON] = {}
        self._file_contents: dict[str, bytes] = {}
        self._upload_tokens: dict[str, str] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._calls: list[ApiCall] = []

        self._rate_limits: dict[str, deque[int]] = {}
        self.rate_limits = rate_limits
        self._limiter = slack_rate_limits.RateLimiter(lambda: self.clock())
        self._failures: dict[str, deque[tuple[str, JSON]]] = {}
        self._outage_status = 0
        self._outage_remaining: int | None = 0
        self._outage_html = False

        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

        self._socket_tickets: dict[str, JSON] = {}
        self._socket_sessions: list[_SocketSession] = []
        self._socket_envelopes: dict[str, JSON] = {}
        self._socket_acks: dict[str, JSON] = {}
        self._socket_ack_times: dict[str, float] = {}
        self._socket_messages: list[JSON] = []
        self._socket_closing = False
        self._pinger: threading.Thread | None = None
        self._pinger_stop = threading.Event()

        self._handlers: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.join": self._conversations_join,
            "conversations.kick": self._conversations_kick,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.list": self._conversations_list,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.archive": self._conversations_archive,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "bookmarks.add": self._bookmarks_add,
            "bookmarks.list": self._bookmarks_list,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
            "reactions.add": self._reactions_add,
            "reactions.get": self._reactions_get,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        missing = set(self._handlers) ^ set(slack_scopes.METHOD_SCOPES)
        assert not missing, f"scope table and handlers disagree: {sorted(missing)}"
        self._app_handlers: dict[str, Callable[[JSON], JSON]] = {
            "apps.connections.open": self._apps_connections_open,
        }
        assert set(self._app_handlers) == set(APP_METHOD_SCOPES)
        assert not set(self._app_handlers) & set(self._handlers)
        served = set(self._handlers) | set(self._app_handlers)
        assert served == slack_rate_limits.LIMITED_METHODS, "every method needs its tier"

        self.add_user(BOT_USER_ID, BOT_NAME, real_name="Hotfix Bot", is_bot=True)

    # ------------------------------------------------------------------ server

    def start(self) -> SlackEmulator:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"emulator": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        with self._lock:
            self._socket_closing = False
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving.  Socket Mode connections get a close frame (1001,
        going away) and are shut down."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            # Closed before the WebSockets: a client that reconnects on close
            # is refused at once instead of waiting in the listen backlog.
            server.server_close()
        self._close_sockets(socket_mode.CLOSE_GOING_AWAY, "server shutting down")
        with self._lock:
            pinger, self._pinger = self._pinger, None
        self._pinger_stop.set()
        if pinger is not None:
            pinger.join(timeout=5)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: pass as ``WebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------ seeding state

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        tz: str = "UTC",
        deleted: bool = False,
        is_bot: bool = False,
        team_id: str | None = None,
        *,
        email: str | None = None,
        is_admin: bool = False,
    ) -> str:
        """Add (or replace) a workspace member.  Returns the user id."""
        real = real_name if real_name is not None else name
        mail = email if email is not None else (None if is_bot else f"{name}@example.com")
        profile: JSON = {
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "team": team_id or self.team_id,
        }
        if mail:
            profile["email"] = mail
        if is_bot:
            profile["bot_id"] = BOT_ID if id == BOT_USER_ID else f"B{id[1:]}"
        user: JSON = {
            "id": id,
            "team_id": team_id or self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": _tz_offset(tz),
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(self.clock()),
            "profile": profile,
        }
        with self._lock:
            self._users[id] = user
        self._notify()
        return id

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        is_archived: bool = False,
        channel_id: str | None = None,
        is_general: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> str:
        """Add a channel (bypassing API rules).  The bot is a member only if
        ``"UBOT"`` is in ``members``.  Returns the channel id."""
        with self._lock:
            cid = channel_id or self._new_id("C")
            now = int(self.clock())
            conv = _Conversation(
                id=cid,
                kind=PRIVATE if is_private else PUBLIC,
                name=name,
                created=now,
                creator=BOT_USER_ID,
                members=list(dict.fromkeys(members)),
                is_archived=is_archived,
                is_general=is_general,
            )
            if topic:
                conv.topic = {"value": topic, "creator": BOT_USER_ID, "last_set": now}
            if purpose:
                conv.purpose = {"value": purpose, "creator": BOT_USER_ID, "last_set": now}
            self._conversations[cid] = conv
            self._messages.setdefault(cid, {})
        self._notify()
        return cid

    def add_members(self, channel_id: str, *user_ids: str) -> None:
        with self._lock:
            conv = self._conversations[channel_id]
            for uid in user_ids:
                if uid not in conv.members:
                    conv.members.append(uid)
        self._notify()

    def archive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._conversations[channel_id].is_archived = True
        self._notify()

    def add_usergroup(
        self,
        handle: str,
        users: Iterable[str],
        name: str | None = None,
        *,
        usergroup_id: str | None = None,
        description: str = "",
    ) -> str:
        """Add a user group (``@handle``).  Returns its id (``S...``)."""
        with self._lock:
            gid = usergroup_id or self._new_id("S")
            now = int(self.clock())
            self._usergroups[gid] = {
                "id": gid,
                "team_id": self.team_id,
                "is_usergroup": True,
                "is_subteam": True,
                "name": name or handle,
                "description": description,
                "handle": handle,
                "is_external": False,
                "date_create": now,
                "date_update": now,
                "date_delete": 0,
                "auto_type": None,
                "created_by": BOT_USER_ID,
                "updated_by": BOT_USER_ID,
                "deleted_by": None,
                "prefs": {"channels": [], "groups": []},
                "users": list(dict.fromkeys(users)),
            }
        self._notify()
        return gid

    def add_message(
        self,
        channel_id: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        blocks: list[JSON] | None = None,
    ) -> str:
        """Seed a message as if ``user`` had posted it.  Returns its ts."""
        with self._lock:
            conv = self._conversations[channel_id]
            message = self._store_message(
                conv, user=user, text=text, blocks=blocks, thread_ts=thread_ts, from_bot=False
            )
        self._notify()
        return str(message["ts"])

    # ----------------------------------------------------------- test controls

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 429 + Retry-After."""
        with self._lock:
            self._rate_limits.setdefault(method, deque()).extend([retry_after] * times)

    def fail(self, method: str, error: str, *, times: int = 1, **extra: Any) -> None:
        """The next ``times`` calls to ``method`` answer ``ok: false, error``
        (plus ``extra`` fields), after authentication, without any effect."""
        with self._lock:
            self._failures.setdefault(method, deque()).extend([(error, dict(extra))] * times)

    def outage(self, status: int = 503, *, times: int | None = None, html: bool = False) -> None:
        """Answer every API call with HTTP ``status`` (5xx), for the next
        ``times`` calls, or until :meth:`end_outage` when ``times`` is None.
        ``html``: the body is an HTML error page, as the load balancers in front
        of an API answer when the service behind them is down, instead of
        Slack's JSON ``{"ok": false, "error": ...}``."""
        with self._lock:
            self._outage_status = status
            self._outage_remaining = times
            self._outage_html = html

    def end_outage(self) -> None:
        with self._lock:
            self._outage_status = 0
            self._outage_remaining = 0

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """Register a trigger_id issued now (by the emulator clock)."""
        with self._lock:
            n = next(self._seq)
            trigger = f"{n}.{int(self.clock())}.{secrets.token_hex(16)}"
            self._triggers[trigger] = {"created": self.clock(), "user": user_id, "used": False}
        return trigger

    def new_response_url(
        self,
        *,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> tuple[str, str]:
        """Register a response_url; returns ``(response_id, url)``.

        POSTed JSON is recorded (see :meth:`responses`); ``in_channel`` bodies
        become channel messages, ephemeral ones go to :meth:`ephemerals`,
        ``replace_original`` / ``delete_original`` act on ``message_ts``.
        """
        with self._lock:
            rid = f"R{next(self._seq):06d}{secrets.token_hex(4)}"
            self._response_urls[rid] = _ResponseUrl(
                id=rid,
                channel_id=channel_id,
                user_id=user_id,
                message_ts=message_ts,
                created=self.clock(),
            )
        return rid, f"{self.base_url}/response/{rid}"

    # -------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def messages(self, channel_id: str) -> list[JSON]:
        """Top-level messages (and broadcast replies), oldest first."""
        with self._lock:
            msgs = self._messages.get(channel_id, {})
            return [copy.deepcopy(m) for m in self._sorted(msgs.values()) if self._is_top(m)]

    def thread(self, channel_id: str, ts: str) -> list[JSON]:
        """The thread's parent and its replies, oldest first ([] if unknown)."""
        with self._lock:
            msgs = self._messages.get(channel_id, {})
            parent = msgs.get(ts)
            if parent is None:
                return []
            root = parent.get("thread_ts", ts)
            return [
                copy.deepcopy(m)
                for m in self._sorted(msgs.values())
                if m["ts"] == root or m.get("thread_ts") == root
            ]

    def message(self, channel_id: str, ts: str) -> JSON | None:
        with self._lock:
            found = self._messages.get(channel_id, {}).get(ts)
            return copy.deepcopy(found) if found else None

    def channel(self, channel_id: str) -> JSON | None:
        with self._lock:
            conv = self._conversations.get(channel_id)
            return self._conversation_obj(conv, num_members=True) if conv else None

    def channel_by_name(self, name: str) -> JSON | None:
        with self._lock:
            conv = self._find_by_name(name.lstrip("#"))
            return self._conversation_obj(conv, num_members=True) if conv else None

    def members(self, channel_id: str) -> list[str]:
        with self._lock:
            conv = self._conversations.get(channel_id)
            return list(conv.members) if conv else []

    def user(self, user_id: str) -> JSON | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.deepcopy(found) if found else None

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's DM with ``user_id`` if one was opened."""
        with self._lock:
            for conv in self._conversations.values():
                if conv.kind == IM and conv.im_user == user_id:
                    return conv.id
        return None

    def bookmarks(self, channel_id: str) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._bookmarks.get(channel_id, []))

    def pins(self, channel_id: str) -> list[JSON]:
        """Pinned messages of the channel (current state), in pin order."""
        with self._lock:
            return [copy.deepcopy(item["message"]) for item in self._pin_items(channel_id)]

    def reactions(self, channel_id: str, ts: str) -> list[JSON]:
        with self._lock:
            found = self._messages.get(channel_id, {}).get(ts)
            return copy.deepcopy(found.get("reactions", [])) if found else []

    def usergroup(self, usergroup_id: str) -> JSON | None:
        with self._lock:
            found = self._usergroups.get(usergroup_id)
            return copy.deepcopy(found) if found else None

    def home_view(self, user_id: str) -> JSON | None:
        with self._lock:
            vid = self._home_views.get(user_id)
            return copy.deepcopy(self._views[vid]) if vid else None

    def view(self, view_id: str) -> JSON | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def open_views(self, user_id: str) -> list[JSON]:
        """The user's modal stack (root first)."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(user_id, [])]

    def files(self, channel_id: str) -> list[JSON]:
        """Files shared into the channel, in share order."""
        with self._lock:
            return [
                self._public_file(f)
                for f in self._files.values()
                if channel_id in f.get("_shared_to", [])
            ]

    def file_content(self, file_id: str) -> bytes | None:
        with self._lock:
            return self._file_contents.get(file_id)

    def ephemerals(self, channel_id: str, user: str) -> list[JSON]:
        """Ephemeral messages shown to ``user`` in the channel, oldest first
        (chat.postEphemeral and ephemeral response_url posts)."""
        with self._lock:
            return copy.deepcopy(self._ephemerals.get((channel_id, user), []))

    def responses(self, response_id: str) -> list[Any]:
        """Bodies accepted by the response_url, oldest first."""
        with self._lock:
            resp = self._response_urls.get(response_id)
            return [copy.deepcopy(p.body) for p in resp.posts if p.status == 200] if resp else []

    def response_posts(self, response_id: str) -> list[ResponsePost]:
        """Every POST to the response_url, accepted or not."""
        with self._lock:
            resp = self._response_urls.get(response_id)
            return list(resp.posts) if resp else []

    # ---------------------------------------------------------------- waiting

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (without sleeping blindly) until ``predicate()`` is true.

        Re-evaluated after every recorded API call, upload, response_url post
        and state change.  Returns True if it held, False on timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._version
            if predicate():
                return True
            with self._changed:
                while self._version == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return bool(predicate())
                    self._changed.wait(remaining)

    def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> list[ApiCall]:
        """Wait until ``method`` was called at least ``count`` times; returns all
        its calls.  Raises AssertionError on timeout."""
        if not self.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
            seen = [c.method for c in self.calls]
            raise AssertionError(
                f"expected {count} call(s) to {method} within {timeout}s, "
                f"got {len(self.calls_to(method))}; calls seen: {seen}"
            )
        return self.calls_to(method)

    def wait_for_response(
        self, response_id: str, count: int = 1, timeout: float = 5.0
    ) -> list[Any]:
        """Wait until the response_url accepted ``count`` bodies; returns them.
        Raises AssertionError on timeout."""
        if not self.wait_for(lambda: len(self.responses(response_id)) >= count, timeout):
            raise AssertionError(
                f"expected {count} response(s) on {response_id} within {timeout}s, "
                f"got {self.response_posts(response_id)}"
            )
        return self.responses(response_id)

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    # ------------------------------------------------------------ socket mode

    def socket_connections(self) -> int:
        """How many Socket Mode connections are live (hello sent, not closed)."""
        with self._lock:
            return len(self._live_sessions())

    def wait_for_socket(self, timeout: float = 5.0, *, count: int = 1) -> int:
        """Wait until at least ``count`` Socket Mode connections are live;
        returns how many are.  Raises AssertionError on timeout."""
        if not self.wait_for(lambda: self.socket_connections() >= count, timeout):
            opened = [c.response for c in self.calls_to("apps.connections.open")]
            raise AssertionError(
                f"expected {count} live Socket Mode connection(s) within {timeout}s, "
                f"got {self.socket_connections()}; apps.connections.open answers: {opened}"
            )
        return self.socket_connections()

    def socket_sessions(self) -> list[JSON]:
        """Every Socket Mode connection so far, oldest first, as dicts: ``id``,
        ``url``, ``live``, ``opened`` / ``closed`` (emulator clock),
        ``close_code`` / ``close_reason`` (the app's; 1006 when it dropped the
        socket without a close frame; None while open; a connection is no
        longer ``live`` once either side sent a close frame, and ``closed`` is
        set when its socket is gone), ``disconnect_reason`` (a ``disconnect``
        the emulator sent), ``dropped`` (when :meth:`socket_drop_silently` cut
        it off; ``closed`` then says when the app gave up on it), ``envelopes`` delivered, ``messages`` received,
        ``pings`` / ``pongs`` received from the app."""
        with self._lock:
            return [
                {
                    "id": s.id,
                    "url": s.url,
                    "live": s.live and not s.ws.closing,
                    "opened": s.opened,
                    "closed": s.closed,
                    "close_code": s.ws.close_code,
                    "close_reason": s.ws.close_reason,
                    "disconnect_reason": s.disconnect_reason,
                    "dropped": s.dropped,
                    "envelopes": s.envelopes,
                    "messages": len(s.received),
                    "pings": s.pings,
                    "pongs": s.pongs,
                }
                for s in self._socket_sessions
            ]

    def socket_messages(self) -> list[JSON]:
        """Every message the app sent over Socket Mode, in arrival order (acks
        included).  A text frame that is not a JSON object is recorded as
        ``{"_raw": text}``."""
        with self._lock:
            return copy.deepcopy(self._socket_messages)

    def socket_envelopes(self) -> list[JSON]:
        """The envelopes delivered so far, exactly as sent, oldest first."""
        with self._lock:
            return [copy.deepcopy(e["envelope"]) for e in self._socket_envelopes.values()]

    def socket_send(
        self,
        envelope_type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver an envelope to the connected app as Slack does; returns its
        ``envelope_id``.

        ``{"envelope_id", "type", "payload", "accepts_response_payload"}``, plus
        ``retry_attempt`` / ``retry_reason`` for ``events_api`` only (Slack
        sends those two on Events API envelopes alone).  It goes to the newest
        live connection that was not sent a ``disconnect``.  Raises
        AssertionError when no connection is live (see :meth:`wait_for_socket`).
        """
        return self._socket_deliver(
            envelope_type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> JSON:
        """Wait for the app's acknowledgement of ``envelope_id`` and return it as
        sent: ``{"envelope_id": ...}`` plus ``"payload"`` when the app gave one.
        Raises AssertionError on timeout."""
        if not self.wait_for(lambda: self._has_ack(envelope_id), timeout):
            with self._lock:
                sent = self._socket_envelopes.get(envelope_id)
                where = "never sent" if sent is None else f"sent on {sent['session']}"
                received = copy.deepcopy(self._socket_messages[-5:])
            raise AssertionError(
                f"no ack for envelope {envelope_id} ({where}) within {timeout}s; "
                f"live connections: {self.socket_connections()}; last messages: {received}"
            )
        with self._lock:
            return copy.deepcopy(self._socket_acks[envelope_id])

    def socket_ack_seconds(self, envelope_id: str) -> float | None:
        """Seconds (emulator clock) from sending the envelope to receiving its ack,
        as Slack measures its 3-second window; None while unacknowledged."""
        with self._lock:
            acked = self._socket_ack_times.get(envelope_id)
            sent = self._socket_envelopes.get(envelope_id)
        if acked is None or sent is None:
            return None
        return acked - float(sent["sent"])

    def _has_ack(self, envelope_id: str) -> bool:
        with self._lock:
            return envelope_id in self._socket_acks

    def socket_slash(
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0GENERAL",
        command: str = "/hotfix",
        user_name: str | None = None,
        channel_name: str | None = None,
    ) -> tuple[str, str]:
        """Send a ``slash_commands`` envelope (``accepts_response_payload``
        true); the payload is the driver's slash-command fields, with a fresh
        response_url and trigger_id.  Returns ``(envelope_id, response_id)``.

        A payload in the app's ack is then shown as Slack shows an immediate
        slash-command response (see :meth:`ephemerals`), without counting as a
        response_url post."""
        request = self._payload_driver().slash_request(
            text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            user_name=user_name,
            channel_name=channel_name,
        )
        envelope_id = self._socket_deliver(
            "slash_commands",
            request.payload,
            accepts_response_payload=True,
            response_id=request.response_id,
        )
        return envelope_id, str(request.response_id)

    def socket_event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send an ``events_api`` envelope whose payload is the driver's
        ``event_callback`` document around ``event``.  Returns the envelope_id."""
        request = self._payload_driver().event_request(event, event_id=event_id)
        return self._socket_deliver(
            "events_api",
            request.payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    def socket_block_action(self, action_id: str, **options: Any) -> tuple[str, str | None]:
        """Send an ``interactive`` ``block_actions`` envelope
        (``accepts_response_payload`` false).  ``options`` are those of
        ``SlackDriver.block_action_request`` (value, user_id, channel_id,
        message_ts, view, ...).  Returns ``(envelope_id, response_id)``; the
        response_id is None for an action inside a view."""
        request = self._payload_driver().block_action_request(action_id, **options)
        envelope_id = self._socket_deliver(
            "interactive", request.payload, response_id=request.response_id
        )
        return envelope_id, request.response_id

    def socket_view_submission(self, callback_id: str, values: JSON, **options: Any) -> str:
        """Send an ``interactive`` ``view_submission`` envelope
        (``accepts_response_payload`` true: the ack may carry a
        ``response_action``).  ``options`` are those of
        ``SlackDriver.view_submission_request``.  Returns the envelope_id."""
        request = self._payload_driver().view_submission_request(callback_id, values, **options)
        return self._socket_deliver("interactive", request.payload, accepts_response_payload=True)

    def socket_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> int:
        """Send ``{"type": "disconnect", "reason": ...}`` on every live
        connection, as Slack does before it retires one (``refresh_requested``,
        ``warning``, ``link_disabled``).  The connection stays open and may still
        carry envelopes (the app is expected to open a new one); with
        ``close_after`` the emulator closes it that many seconds later, as Slack
        does with the connections it retires.  Returns how many were told."""
        message = json.dumps(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}
        )
        with self._lock:
            sessions = self._live_sessions()
            for session in sessions:
                session.disconnect_reason = reason
        told = [session for session in sessions if session.ws.send_text(message)]
        self._notify()
        if close_after is not None:

            def close_told() -> None:
                for session in told:
                    session.ws.close(socket_mode.CLOSE_NORMAL, f"disconnect: {reason}")
                self._notify()

            timer = threading.Timer(close_after, close_told)
            timer.daemon = True
            timer.start()
        return len(told)

    def socket_drop_silently(self) -> int:
        """Cut every live connection off as a dead network path would: from now on
        the emulator reads and discards what the app sends, answers no ping, sends
        nothing (no envelopes, pings or close frame) and keeps the TCP connection
        open.  Only the app's own liveness checks can notice; ``socket_sessions``
        shows when it closed the connection.  Returns how many were dropped."""
        with self._lock:
            sessions = self._live_sessions()
            now = self.clock()
            for session in sessions:
                session.ws.go_silent()
                session.dropped = now
        self._notify()
        return len(sessions)

    def socket_close(self, code: int = socket_mode.CLOSE_NORMAL, reason: str = "") -> int:
        """Close every live connection from the server side (close frame with
        ``code``), as when Slack drops a connection.  Returns how many."""
        return self._close_sockets(code, reason, refuse_new=False)

    def socket_ping(self, timeout: float = 5.0) -> int:
        """Ping every live connection and wait until each answered with a
        matching pong.  Returns how many answered; raises AssertionError on
        timeout."""
        with self._lock:
            sessions = self._live_sessions()
            expected = {s.id: f"check:{next(self._seq)}".encode() for s in sessions}
        for session in sessions:
            session.ws.ping(expected[session.id])

        def answered() -> bool:
            with self._lock:
                return all(expected[s.id] in s.pong_payloads for s in sessions)

        if not self.wait_for(answered, timeout):
            raise AssertionError(f"not every Socket Mode connection answered a ping in {timeout}s")
        return len(sessions)

    # ------------------------------------------------------ socket mode internals

    def _socket_url(self, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}{SOCKET_MODE_PATH}{ticket}"

    def _apps_connections_open(self, a: JSON) -> JSON:
        ticket = f"{next(self._seq):06d}{secrets.token_hex(12)}"
        self._socket_tickets[ticket] = {"issued": self.clock(), "connections": 0}
        return {"ok": True, "url": self._socket_url(ticket)}

    def _live_sessions(self) -> list[_SocketSession]:
        return [s for s in self._socket_sessions if s.live and not s.ws.closing and not s.ws.silent]

    def _payload_driver(self) -> Any:
        # Imported here: slack_driver imports this module.
        from tests.harness.slack_driver import SlackDriver

        return SlackDriver(
            bot_url="http://127.0.0.1:9/socket-mode-has-no-request-url",
            signing_secret="unused-in-socket-mode",
            emulator=self,
            team_id=self.team_id,
            clock=self.clock,
        )

    def _socket_deliver(
        self,
        envelope_type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        response_id: str | None = None,
    ) -> str:
        envelope_id = str(uuid.uuid4())
        envelope: JSON = {
            "envelope_id": envelope_id,
            "payload": copy.deepcopy(payload),
            "type": envelope_type,
            "accepts_response_payload": bool(accepts_response_payload),
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = int(retry_attempt)
            envelope["retry_reason"] = str(retry_reason)
        with self._lock:
            live = self._live_sessions()
            fresh = [s for s in live if s.disconnect_reason is None]
            if not live:
                raise AssertionError(
                    "no live Socket Mode connection to deliver to (use wait_for_socket first)"
                )
            session = (fresh or live)[-1]
            session.envelopes += 1
            self._socket_envelopes[envelope_id] = {
                "envelope": envelope,
                "session": session.id,
                "sent": self.clock(),
                "response_id": response_id,
            }
        if not session.ws.send_text(json.dumps(envelope)):
            raise AssertionError(f"Socket Mode connection {session.id} is closed")
        self._notify()
        return envelope_id

    def _socket_received(self, session: _SocketSession, text: str) -> None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        message: JSON = parsed if isinstance(parsed, dict) else {"_raw": text}
        with self._lock:
            session.received.append(message)
            self._socket_messages.append(copy.deepcopy(message))
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str) and envelope_id not in self._socket_acks:
                self._socket_acks[envelope_id] = copy.deepcopy(message)
                self._socket_ack_times[envelope_id] = self.clock()
                sent = self._socket_envelopes.get(envelope_id)
                if sent is not None:
                    try:
                        self._apply_socket_ack(sent, message)
                    except Exception:  # an emulator bug: report it, keep the connection
                        traceback.print_exc()
        self._notify()

    def _apply_socket_ack(self, sent: JSON, ack: JSON) -> None:
        """A slash command's ack payload is shown like an immediate HTTP
        response; other ack payloads have no effect on the emulator's state."""
        envelope = sent["envelope"]
        payload = ack.get("payload")
        if envelope["type"] != "slash_commands" or not envelope["accepts_response_payload"]:
            return
        if not isinstance(payload, dict) or not payload:
            return
        resp = self._response_urls.get(sent.get("response_id") or "")
        if resp is not None:
            self._apply_response(resp, copy.deepcopy(payload))

    def _socket_pinged(self, session: _SocketSession) -> None:
        with self._lock:
            session.pings += 1

    def _socket_ponged(self, session: _SocketSession, payload: bytes) -> None:
        with self._lock:
            session.pongs += 1
            session.pong_payloads.append(payload)
        self._notify()

    def _ensure_pinger(self) -> None:
        """Start the ping thread with the first WebSocket (not for HTTP-only use)."""
        with self._lock:
            if self._pinger is not None or not self.socket_ping_interval or self._socket_closing:
                return
            self._pinger_stop.clear()
            self._pinger = threading.Thread(
                target=self._ping_loop, name="slack-emulator-pinger", daemon=True
            )
            self._pinger.start()

    def _ping_loop(self) -> None:
        interval = self.socket_ping_interval or 0.1
        n = 0
        while not self._pinger_stop.wait(interval):
            with self._lock:
                sessions = self._live_sessions()
            for session in sessions:
                n += 1
                # Never an empty payload: slack_sdk's reader stalls on 2-byte frames.
                session.ws.ping(f"emulator:{n}".encode())

    def _close_sockets(self, code: int, reason: str, *, refuse_new: bool = True) -> int:
        with self._lock:
            if refuse_new:
                self._socket_closing = True
            sessions = [s for s in self._socket_sessions if not s.ws.closed]
        # Send every close frame first, then wait for all of them together.
        for session in sessions:
            session.ws.start_close(code, reason)
        deadline = time.monotonic() + 1.0
        for session in sessions:
            if not session.ws.wait_closed(max(deadline - time.monotonic(), 0)):
                session.ws.abort()
        for session in sessions:
            session.ws.wait_closed(1.0)
        self._notify()
        return len(sessions)

    def _handle_socket_mode(self, req: BaseHTTPRequestHandler, ticket: str) -> None:
        upgrade = socket_mode.check_upgrade(
            req.command, req.request_version, dict(req.headers.items())
        )
        with self._lock:
            known = ticket in self._socket_tickets
            closing = self._socket_closing
        if upgrade.accepted and not known:
            upgrade = socket_mode.Upgrade(404, {}, "unknown Socket Mode ticket")
        if upgrade.accepted and closing:
            upgrade = socket_mode.Upgrade(503, {}, "server shutting down")
        if not upgrade.accepted:
            body = upgrade.reason.encode()
            req.send_response(upgrade.status)
            for key, value in upgrade.headers.items():
                req.send_header(key, value)
            req.send_header("Content-Type", "text/plain; charset=utf-8")
            req.send_header("Content-Length", str(len(body)))
            req.send_header("Connection", "close")
            req.end_headers()
            req.wfile.write(body)
            return
        req.send_response(101, "Switching Protocols")
        for key, value in upgrade.headers.items():
            req.send_header(key, value)
        req.end_headers()
        req.close_connection = True

        def on_text(text: str) -> None:
            self._socket_received(session, text)

        def on_ping(payload: bytes) -> None:
            self._socket_pinged(session)

        def on_pong(payload: bytes) -> None:
            self._socket_ponged(session, payload)

        ws = socket_mode.WebSocketConnection(
            req.connection, req.rfile, on_text=on_text, on_ping=on_ping, on_pong=on_pong
        )
        with self._lock:
            session = _SocketSession(
                id=f"WS{next(self._seq):04d}",
                url=self._socket_url(ticket),
                ws=ws,
                opened=self.clock(),
            )
            self._socket_tickets[ticket]["connections"] += 1
            self._socket_sessions.append(session)
            closing = self._socket_closing
            hello = {
                "type": "hello",
                "num_connections": len(self._live_sessions()) + 1,
                "debug_info": {
                    "host": "applink-emulator",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        # Live only once hello is out, so that no envelope can precede it.
        if closing:
            ws.abort()
        elif ws.send_text(json.dumps(hello)):
            with self._lock:
                session.live = True
            self._ensure_pinger()
        self._notify()
        try:
            ws.run()
        finally:
            with self._lock:
                session.live = False
                session.closed = self.clock()
            self._notify()

    # ------------------------------------------------------------ HTTP entry

    def _handle_http(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        if split.path.startswith(SOCKET_MODE_PATH):
            self._handle_socket_mode(req, split.path[len(SOCKET_MODE_PATH) :])
            return
        raw_headers = dict(req.headers.items())
        headers = {k.lower(): v for k, v in raw_headers.items()}
        length = int(headers.get("content-length") or 0)
        body = req.rfile.read(length) if length > 0 else b""
        path = split.path
        hook = self.call_hook
        if path.startswith("/api/"):
            method = path[len("/api/") :]
            if hook and hook(method, "before"):
                req.close_connection = True
                return
            status, headers, payload = self._handle_api(
                req.command, method, split.query, headers, body, raw_headers
            )
            if hook:
                hook(method, "after")
        elif path.startswith("/upload/v1/") and req.command == "POST":
            status, headers, payload = self._handle_upload(
                path[len("/upload/v1/") :], headers, body
            )
        elif path.startswith("/response/") and req.command == "POST":
            if hook and hook("response_url", "before"):
                req.close_connection = True
                return
            status, headers, payload = self._handle_response_url(
                path[len("/response/") :], headers, body
            )
            if hook:
                hook("response_url", "after")
        else:
            status, headers, payload = 404, {"Content-Type": "text/plain"}, b"Not Found"
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(payload)))
        req.send_header("Connection", "close")
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(payload)

    def _handle_api(
        self,
        http_method: str,
        method: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        raw_headers: Mapping[str, str],
    ) -> tuple[int, dict[str, str], bytes]:
        content_type_header = headers.get("content-type") or ""
        media_type = content_type_header.split(";")[0].strip().lower()
        args: JSON = dict(parse_qsl(query, keep_blank_values=True))
        token: str | None = None
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        body_error: str | None = None
        body_args: JSON = {}
        if body:
            if media_type == "application/json":
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    body_error = "invalid_json"
                else:
                    if not isinstance(parsed, dict):
                        body_error = "invalid_json"
                    elif method not in slack_scopes.READ_METHODS:
                        body_args = {k: v for k, v in parsed.items() if k != "token"}
            elif media_type == "application/x-www-form-urlencoded":
                body_args = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            elif media_type == "multipart/form-data":
                body_args = _parse_multipart(content_type_header, body)
            elif not media_type:
                body_error = "missing_post_type"
            else:
                body_error = "invalid_post_type"
        args.update(body_args)
        args = {k: v for k, v in args.items() if v is not None}
        form_token = args.pop("token", None)
        if token is None and isinstance(form_token, str) and form_token:
            token = form_token
        for key in _JSON_STRING_ARGS & set(args):
            value = args[key]
            if isinstance(value, str):
                # left as a string when not JSON: the handler reports the format error
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)

        with self._lock:
            now = self.clock()
            status, extra_headers, response = self._dispatch(method, args, token, body_error)
            self._calls.append(
                ApiCall(
                    method=method,
                    args=copy.deepcopy(args),
                    content_type=media_type,
                    status=status,
                    response=copy.deepcopy(response),
                    time=now,
                    http_method=http_method,
                    token=token,
                    raw_body=body,
                    headers=dict(raw_headers),
                )
            )
        self._notify()
        if _HTML_BODY in response:
            return status, extra_headers, str(response[_HTML_BODY]).encode("utf-8")
        out_headers = {"Content-Type": "application/json; charset=utf-8", **extra_headers}
        return status, out_headers, json.dumps(response).encode("utf-8")

    def _dispatch(
        self, method: str, args: JSON, token: str | None, body_error: str | None
    ) -> tuple[int, dict[str, str], JSON]:
        if self._outage_status and self._outage_remaining != 0:
            if self._outage_remaining is not None:
                self._outage_remaining -= 1
            if self._outage_html:
                page = (
                    f"<html><body><h1>{self._outage_status} Service Unavailable</h1></body></html>"
                )
                return self._outage_status, {"Content-Type": "text/html"}, {_HTML_BODY: page}
            error = "service_unavailable" if self._outage_status == 503 else "internal_error"
            return self._outage_status, {}, {"ok": False, "error": error}
        limits = self._rate_limits.get(method)
        if limits:
            retry_after = limits.popleft()
            return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}
        if self.rate_limits and token in (self.bot_token, self.app_token):
            wait = self._limiter.admit(token, method, args.get("channel"))
            if wait is not None:
                return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
        app_handler = self._app_handlers.get(method)
        if app_handler is not None:
            return self._dispatch_app_method(method, app_handler, args, token, body_error)
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            if token == self.app_token:
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        scope_headers = {
            "X-OAuth-Scopes": ",".join(sorted(self._granted())),
            "X-Accepted-OAuth-Scopes": ",".join(sorted(slack_scopes.METHOD_SCOPES[method])),
        }
        if body_error:
            return 200, scope_headers, {"ok": False, "error": body_error}
        failures = self._failures.get(method)
        if failures:
            error, extra = failures.popleft()
            return 200, scope_headers, {"ok": False, "error": error, **extra}
        needed = slack_scopes.missing_scopes(method, self.scopes)
        if needed:
            return 200, scope_headers, self._missing_scope(needed)
        return 200, scope_headers, self._call_handler(handler, args)

    def _dispatch_app_method(
        self,
        method: str,
        handler: Callable[[JSON], JSON],
        args: JSON,
        token: str | None,
        body_error: str | None,
    ) -> tuple[int, dict[str, str], JSON]:
        """An app-level method: only the app token (xapp-) is accepted."""
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.app_token:
            if token == self.bot_token:
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        accepted = APP_METHOD_SCOPES[method]
        scope_headers = {
            "X-OAuth-Scopes": ",".join(sorted(self.app_scopes)),
            "X-Accepted-OAuth-Scopes": ",".join(sorted(accepted)),
        }
        if body_error:
            return 200, scope_headers, {"ok": False, "error": body_error}
        failures = self._failures.get(method)
        if failures:
            error, extra = failures.popleft()
            return 200, scope_headers, {"ok": False, "error": error, **extra}
        if accepted and not accepted & self.app_scopes:
            missing: JSON = {
                "ok": False,
                "error": "missing_scope",
                "needed": ",".join(sorted(accepted)),
                "provided": ",".join(sorted(self.app_scopes)),
            }
            return 200, scope_headers, missing
        return 200, scope_headers, self._call_handler(handler, args)

    @staticmethod
    def _call_handler(handler: Callable[[JSON], JSON], args: JSON) -> JSON:
        try:
            response = handler(args)
        except SlackError as exc:
            response = {"ok": False, "error": exc.error, **exc.extra}
        except Exception as exc:  # a bug in the emulator: say so loudly
            response = {
                "ok": False,
                "error": "internal_error",
                "emulator_exception": f"{type(exc).__name__}: {exc}",
                "emulator_traceback": traceback.format_exc(),
            }
        return response

    def _granted(self) -> frozenset[str]:
        return slack_scopes.ALL_SCOPES if self.scopes is None else self.scopes

    def _missing_scope(self, needed: Iterable[str]) -> JSON:
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": ",".join(sorted(needed)),
            "provided": ",".join(sorted(self._granted())),
        }

    def _missing_scope_error(self, needed: Iterable[str]) -> SlackError:
        answer = self._missing_scope(needed)
        return SlackError("missing_scope", needed=answer["needed"], provided=answer["provided"])

    def _require_kind_scope(self, method: str, kind: str) -> None:
        needed = slack_scopes.missing_conversation_scopes(method, kind, self.scopes)
        if needed:
            raise self._missing_scope_error(needed)

    # ----------------------------------------------------------- state helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._seq):08X}"

    def _next_ts(self) -> str:
        micro = round(self.clock() * 1_000_000)
        if micro <= self._last_ts_micro:
            micro = self._last_ts_micro + 100
        self._last_ts_micro = micro
        return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"

    @staticmethod
    def _sorted(messages: Iterable[JSON]) -> list[JSON]:
        return sorted(messages, key=lambda m: _ts_key(m["ts"]))

    @staticmethod
    def _is_top(message: JSON) -> bool:
        thread_ts = message.get("thread_ts")
        return (
            thread_ts is None
            or thread_ts == message["ts"]
            or message.get("subtype") == "thread_broadcast"
        )

    def _find_by_name(self, name: str) -> _Conversation | None:
        for conv in self._conversations.values():
            if conv.kind in (PUBLIC, PRIVATE) and conv.name == name:
                return conv
        return None

    def _visible(self, conv: _Conversation) -> bool:
        return conv.kind == PUBLIC or BOT_USER_ID in conv.members

    def _resolve(
        self, value: Any, *, allow_user: bool = False, allow_name: bool = False
    ) -> _Conversation:
        """A conversation the bot can see, from an id (or #name / user id)."""
        ref = str(value or "").strip()
        conv = self._conversations.get(ref)
        if conv is None and allow_name and ref:
            conv = self._find_by_name(ref[1:] if ref.startswith("#") else ref)
        if conv is None and allow_user and ref in self._users:
            user = self._users[ref]
            if user["is_bot"] and ref != BOT_USER_ID:
                raise SlackError("cannot_dm_bot")
            if user["deleted"]:
                raise SlackError("user_disabled")
            conv = self._open_im(ref)[0]
        if conv is None or not self._visible(conv):
            raise SlackError("channel_not_found")
        return conv

    def _open_im(self, user_id: str) -> tuple[_Conversation, bool]:
        for conv in self._conversations.values():
            if conv.kind == IM and conv.im_user == user_id:
                return conv, True
        conv = _Conversation(
            id=self._new_id("D"),
            kind=IM,
            name=user_id,
            created=int(self.clock()),
            creator=BOT_USER_ID,
            members=[BOT_USER_ID, user_id] if user_id != BOT_USER_ID else [BOT_USER_ID],
            im_user=user_id,
        )
        self._conversations[conv.id] = conv
        self._messages.setdefault(conv.id, {})
        return conv, False

    def _conversation_obj(self, conv: _Conversation, *, num_members: bool = False) -> JSON:
        if conv.kind == IM:
            user = self._users.get(conv.im_user or "", {})
            return {
                "id": conv.id,
                "created": conv.created,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "user": conv.im_user,
                "is_user_deleted": bool(user.get("deleted")),
                "is_archived": conv.is_archived,
                "priority": 0,
            }
        obj: JSON = {
            "id": conv.id,
            "name": conv.name,
            "name_normalized": conv.name,
            "is_channel": conv.kind in (PUBLIC, PRIVATE),
            "is_group": False,
            "is_im": False,
            "is_mpim": conv.kind == MPIM,
            "is_private": conv.kind in (PRIVATE, MPIM),
            "created": conv.created,
            "creator": conv.creator,
            "is_archived": conv.is_archived,
            "is_general": conv.is_general,
            "unlinked": 0,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": conv.created,
            "is_member": BOT_USER_ID in conv.members,
            "topic": dict(conv.topic),
            "purpose": dict(conv.purpose),
            "previous_names": [],
        }
        if num_members:
            obj["num_members"] = len(conv.members)
        return obj

    def _page(
        self, items: list[Any], args: JSON, *, default: int, maximum: int
    ) -> tuple[list[Any], str]:
        raw_limit = args.get("limit")
        try:
            limit = int(raw_limit) if raw_limit not in (None, "") else default
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        if limit <= 0:
            limit = default
        limit = min(limit, maximum)
        offset = 0
        cursor = args.get("cursor")
        if cursor:
            try:
                decoded = base64.b64decode(str(cursor).encode(), validate=True).decode()
                kind, _, number = decoded.partition(":")
                if kind != "offset":
                    raise ValueError(decoded)
                offset = int(number)
            except (ValueError, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        next_cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
        return page, next_cursor

    def _bot_message_base(self) -> JSON:
        return {
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "deleted": False,
                "team_id": self.team_id,
            },
        }

    def _store_message(
        self,
        conv: _Conversation,
        *,
        user: str,
        text: str,
        blocks: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        metadata: JSON | None = None,
        from_bot: bool = True,
        extra: JSON | None = None,
    ) -> JSON:
        msgs = self._messages.setdefault(conv.id, {})
        parent: JSON | None = None
        if thread_ts:
            parent = msgs.get(str(thread_ts))
            if parent is None:
                raise SlackError("thread_not_found")
            if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
                parent = msgs[parent["thread_ts"]]
        ts = self._next_ts()
        message: JSON = {"type": "message", "ts": ts, "text": text, "team": self.team_id}
        if from_bot:
            message.update(self._bot_message_base())
        else:
            message["user"] = user
        if blocks is not None:
            message["blocks"] = copy.deepcopy(blocks)
        if attachments:
            message["attachments"] = copy.deepcopy(attachments)
        if metadata:
            message["metadata"] = copy.deepcopy(metadata)
        if extra:
            message.update(copy.deepcopy(extra))
        if parent is not None:
            root = parent["ts"]
            message["thread_ts"] = root
            message["parent_user_id"] = parent.get("user")
            parent["thread_ts"] = root
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            reply_users = parent.setdefault("reply_users", [])
            if user not in reply_users:
                reply_users.append(user)
            parent["reply_users_count"] = len(reply_users)
            parent["latest_reply"] = ts
            if reply_broadcast:
                message["subtype"] = "thread_broadcast"
                message["root"] = {
                    k: copy.deepcopy(v)
                    for k, v in parent.items()
                    if k in {"type", "ts", "text", "user", "bot_id", "thread_ts", "reply_count"}
                }
        msgs[ts] = message
        return message

    def _require_can_post(self, conv: _Conversation) -> None:
        if conv.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID in conv.members:
            return
        if conv.kind == PUBLIC and "chat:write.public" in self._granted():
            return
        raise SlackError("not_in_channel")

    def _require_member_to_read(self, conv: _Conversation) -> None:
        if BOT_USER_ID not in conv.members:
            raise SlackError("not_in_channel")

    def _find_message(self, conv: _Conversation, ts: Any) -> JSON:
        found = self._messages.get(conv.id, {}).get(str(ts or ""))
        if found is None:
            raise SlackError("message_not_found")
        return found

    def _render(self, message: JSON, *, metadata: bool = True) -> JSON:
        out = copy.deepcopy(message)
        if not metadata:
            out.pop("metadata", None)
        return out

    def _check_blocks(self, raw: Any, *, limit: int = 50) -> list[JSON] | None:
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise SlackError("invalid_blocks_format")
        errors = self._block_errors(raw, limit=limit, pointer="/blocks")
        if errors:
            raise SlackError("invalid_blocks", response_metadata={"messages": errors})
        return raw

    @staticmethod
    def _block_errors(blocks: list[Any], *, limit: int, pointer: str) -> list[str]:
        return block_errors(blocks, limit=limit, pointer=pointer)

    @staticmethod
    def _check_metadata(raw: Any) -> JSON | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise SlackError("invalid_metadata_format")
        if raw == {}:
            return {}
        if not isinstance(raw.get("event_type"), str) or not isinstance(
            raw.get("event_payload", {}), dict
        ):
            raise SlackError("invalid_metadata_schema")
        return raw

    # ------------------------------------------------------------------ auth

    def _auth_test(self, a: JSON) -> JSON:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ chat

    def _message_content(self, a: JSON) -> tuple[str, list[JSON] | None, list[JSON] | None]:
        text = a.get("text")
        text = "" if text is None else str(text)
        blocks = self._check_blocks(a.get("blocks"))
        attachments = a.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        return text, blocks, attachments

    def _chat_post_message(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"), allow_user=True, allow_name=True)
        self._require_can_post(conv)
        text, blocks, attachments = self._message_content(a)
        metadata = self._check_metadata(a.get("metadata"))
        message = self._store_message(
            conv,
            user=BOT_USER_ID,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=a.get("thread_ts") or None,
            reply_broadcast=_flag(a.get("reply_broadcast")),
            metadata=metadata or None,
        )
        return {
            "ok": True,
            "channel": conv.id,
            "ts": message["ts"],
            "message": self._render(message),
        }

    def _chat_post_ephemeral(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"), allow_name=True)
        self._require_can_post(conv)
        user = str(a.get("user") or "")
        if user not in self._users or user not in conv.members:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._message_content(a)
        thread_ts = a.get("thread_ts") or None
        if thread_ts and str(thread_ts) not in self._messages.get(conv.id, {}):
            raise SlackError("thread_not_found")
        ts = self._next_ts()
        message: JSON = {"type": "message", "subtype": "bot_message", "text": text, "ts": ts}
        message.update(self._bot_message_base())
        if blocks is not None:
            message["blocks"] = copy.deepcopy(blocks)
        if attachments:
            message["attachments"] = copy.deepcopy(attachments)
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
        self._ephemerals.setdefault((conv.id, user), []).append(message)
        return {"ok": True, "message_ts": ts}

    def _chat_update(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        message = self._find_message(conv, a.get("ts"))
        if message.get("user") != BOT_USER_ID or message.get("subtype") == "tombstone":
            raise SlackError("cant_update_message")
        if conv.is_archived:
            raise SlackError("is_inactive")
        has_text = a.get("text") is not None
        has_blocks = "blocks" in a
        has_attachments = "attachments" in a
        if not (has_text or has_blocks or has_attachments or a.get("file_ids")):
            raise SlackError("no_text")
        blocks = self._check_blocks(a.get("blocks")) if has_blocks else None
        if has_text:
            message["text"] = str(a["text"])
        if has_blocks:
            if blocks:
                message["blocks"] = copy.deepcopy(blocks)
            else:
                message.pop("blocks", None)
        elif has_text:
            message.pop("blocks", None)
        if has_attachments:
            attachments = a.get("attachments")
            if attachments:
                message["attachments"] = copy.deepcopy(attachments)
            else:
                message.pop("attachments", None)
        if "metadata" in a:
            metadata = self._check_metadata(a.get("metadata"))
            if metadata:
                message["metadata"] = copy.deepcopy(metadata)
            else:
                message.pop("metadata", None)
        if has_text and not has_blocks:
            message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": conv.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": self._render(message),
        }

    def _chat_delete(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        message = self._find_message(conv, a.get("ts"))
        if message.get("user") != BOT_USER_ID:
            raise SlackError("cant_delete_message")
        self._delete_message(conv, message)
        return {"ok": True, "channel": conv.id, "ts": message["ts"]}

    def _delete_message(self, conv: _Conversation, message: JSON) -> None:
        msgs = self._messages[conv.id]
        ts = message["ts"]
        self._pins[conv.id] = [p for p in self._pins.get(conv.id, []) if p["ts"] != ts]
        root = message.get("thread_ts")
        if root == ts and message.get("reply_count"):
            # A parent with replies stays as a tombstone, as in Slack.
            for key in ("blocks", "attachments", "metadata", "reactions", "edited", "files"):
                message.pop(key, None)
            message.update({"subtype": "tombstone", "text": "This message was deleted."})
            message["user"] = "USLACKBOT"
            for key in ("bot_id", "app_id", "bot_profile"):
                message.pop(key, None)
            return
        del msgs[ts]
        if root and root != ts and root in msgs:
            parent = msgs[root]
            parent["reply_count"] = max(parent.get("reply_count", 1) - 1, 0)
            replies = [m for m in msgs.values() if m.get("thread_ts") == root and m["ts"] != root]
            if replies:
                parent["latest_reply"] = self._sorted(replies)[-1]["ts"]
            else:
                for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
                    parent.pop(key, None)
                if parent.get("subtype") == "tombstone":
                    del msgs[root]
                else:
                    parent.pop("thread_ts", None)

    def _chat_get_permalink(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        message = self._find_message(conv, a.get("message_ts"))
        ts = message["ts"]
        link = f"https://{self.team_domain}.slack.com/archives/{conv.id}/p{ts.replace('.', '')}"
        root = message.get("thread_ts")
        if root and root != ts:
            link += f"?thread_ts={root}&cid={conv.id}"
        return {"ok": True, "channel": conv.id, "permalink": link}

    # --------------------------------------------------------- conversations

    def _conversations_create(self, a: JSON) -> JSON:
        is_private = _flag(a.get("is_private"))
        self._require_kind_scope("conversations.create", PRIVATE if is_private else PUBLIC)
        name = str(a.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME_OK.fullmatch(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if self._find_by_name(name) is not None:
            raise SlackError("name_taken")
        cid = self._new_id("C")
        conv = _Conversation(
            id=cid,
            kind=PRIVATE if is_private else PUBLIC,
            name=name,
            created=int(self.clock()),
            creator=BOT_USER_ID,
            members=[BOT_USER_ID],
        )
        self._conversations[cid] = conv
        self._messages[cid] = {}
        return {"ok": True, "channel": self._conversation_obj(conv)}

    def _conversations_invite(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.invite", conv.kind)
        if conv.kind == IM:
            raise SlackError("method_not_supported_for_channel_type")
        if conv.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in conv.members:
            raise SlackError("not_in_channel")
        users = list(dict.fromkeys(_csv(a.get("users"))))
        if not users:
            raise SlackError("no_user")
        errors: list[JSON] = []
        valid: list[str] = []
        for uid in users:
            user = self._users.get(uid)
            if uid == BOT_USER_ID:
                code = "cant_invite_self"
            elif user is None:
                code = "user_not_found"
            elif user["deleted"]:
                code = "cant_invite"
            elif uid in conv.members:
                code = "already_in_channel"
            else:
                valid.append(uid)
                continue
            errors.append({"user": uid, "ok": False, "error": code})
        if errors and not _flag(a.get("force")):
            raise SlackError(errors[0]["error"], errors=errors)
        conv.members.extend(valid)
        response: JSON = {"ok": True, "channel": self._conversation_obj(conv)}
        if errors:
            response["errors"] = errors
        return response

    def _conversations_join(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        if conv.kind != PUBLIC:
            raise SlackError("method_not_supported_for_channel_type")
        if conv.is_archived:
            raise SlackError("is_archived")
        response: JSON = {"ok": True}
        if BOT_USER_ID in conv.members:
            response["warning"] = "already_in_channel"
            response["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            conv.members.append(BOT_USER_ID)
        response["channel"] = self._conversation_obj(conv)
        return response

    def _conversations_kick(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.kick", conv.kind)
        if conv.kind in (IM, MPIM):
            raise SlackError("method_not_supported_for_channel_type")
        user = str(a.get("user") or "")
        if not user:
            raise SlackError("no_user")
        if user == BOT_USER_ID:
            raise SlackError("cant_kick_self")
        if user not in self._users:
            raise SlackError("user_not_found")
        if conv.is_general:
            raise SlackError("cant_kick_from_general")
        if user not in conv.members:
            raise SlackError("not_in_channel")
        conv.members.remove(user)
        return {"ok": True}

    def _conversations_info(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.info", conv.kind)
        obj = self._conversation_obj(conv, num_members=_flag(a.get("include_num_members")))
        if _flag(a.get("include_locale")):
            obj["locale"] = "en-US"
        return {"ok": True, "channel": obj}

    def _conversations_members(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.members", conv.kind)
        page, next_cursor = self._page(list(conv.members), a, default=100, maximum=1000)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _history_window(self, messages: list[JSON], a: JSON) -> list[JSON]:
        inclusive = _flag(a.get("inclusive"))
        oldest = a.get("oldest")
        latest = a.get("latest")
        try:
            low = _ts_key(str(oldest)) if oldest not in (None, "") else None
        except ValueError:
            raise SlackError("invalid_ts_oldest") from None
        try:
            high = _ts_key(str(latest)) if latest not in (None, "") else None
        except ValueError:
            raise SlackError("invalid_ts_latest") from None
        out = []
        for message in messages:
            key = _ts_key(message["ts"])
            if low is not None and (key < low or (key == low and not inclusive)):
                continue
            if high is not None and (key > high or (key == high and not inclusive)):
                continue
            out.append(message)
        return out

    def _conversations_history(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.history", conv.kind)
        self._require_member_to_read(conv)
        top = [m for m in self._messages.get(conv.id, {}).values() if self._is_top(m)]
        window = list(reversed(self._sorted(self._history_window(top, a))))
        page, next_cursor = self._page(window, a, default=100, maximum=999)
        with_metadata = _flag(a.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": len(self._pins.get(conv.id, [])),
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.replies", conv.kind)
        self._require_member_to_read(conv)
        msgs = self._messages.get(conv.id, {})
        message = msgs.get(str(a.get("ts") or ""))
        if message is None:
            raise SlackError("thread_not_found")
        root = message.get("thread_ts", message["ts"])
        thread = [m for m in msgs.values() if m["ts"] == root or m.get("thread_ts") == root]
        ordered = self._sorted(thread)
        window = [ordered[0], *self._history_window(ordered[1:], a)] if ordered else []
        page, next_cursor = self._page(window, a, default=1000, maximum=1000)
        with_metadata = _flag(a.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_list(self, a: JSON) -> JSON:
        types = _csv(a.get("types")) or [PUBLIC]
        for kind in types:
            if kind not in slack_scopes.LIST_TYPE_SCOPES:
                raise SlackError("invalid_types")
            scope = slack_scopes.LIST_TYPE_SCOPES[kind]
            if self.scopes is not None and scope not in self.scopes:
                raise self._missing_scope_error([scope])
        exclude_archived = _flag(a.get("exclude_archived"))
        found = [
            conv
            for conv in self._conversations.values()
            if conv.kind in types
            and self._visible(conv)
            and not (exclude_archived and conv.is_archived)
        ]
        page, next_cursor = self._page(found, a, default=100, maximum=1000)
        return {
            "ok": True,
            "channels": [self._conversation_obj(c, num_members=True) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _set_topic_or_purpose(self, a: JSON, method: str, arg: str) -> _Conversation:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope(method, conv.kind)
        if conv.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in conv.members:
            raise SlackError("not_in_channel")
        value = str(a.get(arg) or "")
        if len(value) > 250:
            raise SlackError("too_long")
        setattr(
            conv,
            arg,
            {"value": value, "creator": BOT_USER_ID, "last_set": int(self.clock())},
        )
        return conv

    def _conversations_set_topic(self, a: JSON) -> JSON:
        conv = self._set_topic_or_purpose(a, "conversations.setTopic", "topic")
        return {"ok": True, "channel": self._conversation_obj(conv)}

    def _conversations_set_purpose(self, a: JSON) -> JSON:
        conv = self._set_topic_or_purpose(a, "conversations.setPurpose", "purpose")
        return {"ok": True, "channel": self._conversation_obj(conv)}

    def _conversations_archive(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        self._require_kind_scope("conversations.archive", conv.kind)
        if conv.kind == IM:
            raise SlackError("method_not_supported_for_channel_type")
        if conv.is_archived:
            raise SlackError("already_archived")
        if conv.is_general:
            raise SlackError("cant_archive_general")
        if BOT_USER_ID not in conv.members:
            raise SlackError("not_in_channel")
        conv.is_archived = True
        return {"ok": True}

    def _conversations_open(self, a: JSON) -> JSON:
        return_im = _flag(a.get("return_im"))
        channel = a.get("channel")
        users = [u for u in dict.fromkeys(_csv(a.get("users"))) if u != BOT_USER_ID]
        if channel and not users:
            conv = self._resolve(channel)
            if conv.kind not in (IM, MPIM):
                raise SlackError("method_not_supported_for_channel_type")
            self._require_kind_scope("conversations.open", conv.kind)
            return {
                "ok": True,
                "no_op": True,
                "already_open": True,
                "channel": self._conversation_obj(conv),
            }
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for uid in users:
            user = self._users.get(uid)
            if user is None:
                raise SlackError("user_not_found")
            if user["deleted"]:
                raise SlackError("user_disabled")
        kind = IM if len(users) == 1 else MPIM
        self._require_kind_scope("conversations.open", kind)
        if kind == IM:
            conv, existed = self._open_im(users[0])
        else:
            wanted = {BOT_USER_ID, *users}
            existing = [
                c
                for c in self._conversations.values()
                if c.kind == MPIM and set(c.members) == wanted
            ]
            existed = bool(existing)
            if existing:
                conv = existing[0]
            else:
                names = "-".join(self._users[u]["name"] for u in [BOT_USER_ID, *users])
                conv = _Conversation(
                    id=self._new_id("G"),
                    kind=MPIM,
                    name=f"mpdm-{names}-1",
                    created=int(self.clock()),
                    creator=BOT_USER_ID,
                    members=[BOT_USER_ID, *users],
                )
                self._conversations[conv.id] = conv
                self._messages[conv.id] = {}
        obj = self._conversation_obj(conv) if return_im or kind == MPIM else {"id": conv.id}
        response: JSON = {"ok": True, "channel": obj}
        if existed:
            response.update({"no_op": True, "already_open": True})
        return response

    # ------------------------------------------------------------------ users

    def _user_obj(self, user: JSON) -> JSON:
        out = copy.deepcopy(user)
        if self.scopes is not None and "users:read.email" not in self.scopes:
            out["profile"].pop("email", None)
        return out

    def _users_info(self, a: JSON) -> JSON:
        user = self._users.get(str(a.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self._user_obj(user)}

    def _users_list(self, a: JSON) -> JSON:
        page, next_cursor = self._page(list(self._users.values()), a, default=1000, maximum=1000)
        return {
            "ok": True,
            "members": [self._user_obj(u) for u in page],
            "cache_ts": int(self.clock()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_lookup_by_email(self, a: JSON) -> JSON:
        email_arg = str(a.get("email") or "").strip().lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email_arg and email_arg:
                return {"ok": True, "user": self._user_obj(user)}
        raise SlackError("users_not_found")

    def _usergroups_list(self, a: JSON) -> JSON:
        include_users = _flag(a.get("include_users"))
        include_count = _flag(a.get("include_count"))
        include_disabled = _flag(a.get("include_disabled"))
        groups = []
        for group in self._usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            out = copy.deepcopy(group)
            if not include_users:
                out.pop("users", None)
            if include_count:
                out["user_count"] = len(group["users"])
            groups.append(out)
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, a: JSON) -> JSON:
        group = self._usergroups.get(str(a.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        if group["date_delete"] and not _flag(a.get("include_disabled")):
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    # -------------------------------------------------- bookmarks, pins, reactions

    def _bookmarks_add(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel_id"))
        title = str(a.get("title") or "")
        kind = str(a.get("type") or "")
        if not title or not kind:
            raise _invalid_arguments("[ERROR] missing required field: title or type")
        if kind != "link":
            raise SlackError("invalid_bookmark_type")
        link = str(a.get("link") or "")
        if not re.match(r"https?://", link):
            raise SlackError("invalid_link")
        emoji = a.get("emoji")
        if emoji and not re.fullmatch(r":[a-z0-9_+\-']+:", str(emoji)):
            raise SlackError("invalid_emoji")
        now = int(self.clock())
        items = self._bookmarks.setdefault(conv.id, [])
        bookmark: JSON = {
            "id": f"Bk0{next(self._seq):08X}",
            "channel_id": conv.id,
            "title": title,
            "link": link,
            "emoji": emoji,
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": now,
            "date_updated": 0,
            "rank": chr(ord("a") + min(len(items), 25)),
            "last_updated_by_user_id": BOT_USER_ID,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": APP_ID,
        }
        items.append(bookmark)
        return {"ok": True, "bookmark": copy.deepcopy(bookmark)}

    def _bookmarks_list(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel_id"))
        return {"ok": True, "bookmarks": copy.deepcopy(self._bookmarks.get(conv.id, []))}

    def _pin_items(self, channel_id: str) -> list[JSON]:
        msgs = self._messages.get(channel_id, {})
        items = []
        for pin in self._pins.get(channel_id, []):
            message = msgs.get(pin["ts"])
            if message is not None:
                items.append({**pin, "message": message})
        return items

    def _pins_add(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        if not a.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(conv, a.get("timestamp"))
        if BOT_USER_ID not in conv.members:
            raise SlackError("not_in_channel")
        pins = self._pins.setdefault(conv.id, [])
        if any(p["ts"] == message["ts"] for p in pins):
            raise SlackError("already_pinned")
        pins.append({"ts": message["ts"], "created": int(self.clock()), "created_by": BOT_USER_ID})
        message.setdefault("pinned_to", []).append(conv.id)
        return {"ok": True}

    def _pins_list(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        items = [
            {
                "type": "message",
                "created": item["created"],
                "created_by": item["created_by"],
                "channel": conv.id,
                "message": self._render(item["message"]),
            }
            for item in self._pin_items(conv.id)
        ]
        return {"ok": True, "items": items}

    def _reactions_add(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        if not a.get("timestamp"):
            raise SlackError("no_item_specified")
        name = str(a.get("name") or "")
        if not name or not _EMOJI_NAME_OK.fullmatch(name.split("::")[0]):
            raise SlackError("invalid_name")
        if conv.is_archived:
            raise SlackError("is_archived")
        message = self._find_message(conv, a.get("timestamp"))
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {"ok": True}

    def _reactions_get(self, a: JSON) -> JSON:
        conv = self._resolve(a.get("channel"))
        if not a.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(conv, a.get("timestamp"))
        return {"ok": True, "type": "message", "channel": conv.id, "message": self._render(message)}

    # ------------------------------------------------------------------ views

    def _parse_view(self, raw: Any, allowed: tuple[str, ...]) -> JSON:
        if raw is None or raw == "":
            raise _invalid_arguments("[ERROR] missing required field: view")
        if not isinstance(raw, dict):
            raise _invalid_arguments("[ERROR] failed to parse view: must be a JSON object")
        errors: list[str] = []
        kind = raw.get("type")
        if kind not in allowed:
            errors.append(f"[ERROR] must be one of {list(allowed)} [json-pointer:/view/type]")
        for key in ("title", "submit", "close"):
            value = raw.get(key)
            if value is None:
                if key == "title" and kind == "modal":
                    errors.append("[ERROR] missing required field: title [json-pointer:/view]")
                continue
            if not isinstance(value, dict) or value.get("type") != "plain_text":
                errors.append(f"[ERROR] must be a plain_text object [json-pointer:/view/{key}]")
            elif len(str(value.get("text", ""))) > 24:
                errors.append(f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}]")
        blocks = raw.get("blocks")
        if not isinstance(blocks, list):
            errors.append("[ERROR] missing required field: blocks [json-pointer:/view]")
        else:
            errors.extend(self._block_errors(blocks, limit=100, pointer="/view/blocks"))
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            if kind == "modal" and has_input and raw.get("submit") is None:
                errors.append(
                    "[ERROR] must provide a submit button when using input blocks "
                    "[json-pointer:/view/submit]"
                )
        for key, cap in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
            if len(str(raw.get(key) or "")) > cap:
                errors.append(
                    f"[ERROR] must be less than {cap + 1} characters [json-pointer:/view/{key}]"
                )
        if errors:
            raise _invalid_arguments(*errors)
        return raw

    def _exchange_trigger(self, a: JSON) -> JSON:
        trigger_id = a.get("trigger_id") or a.get("interactivity_pointer")
        if not trigger_id:
            raise _invalid_arguments("[ERROR] missing required field: trigger_id")
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger["used"]:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger["created"] > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        return trigger

    def _make_view(
        self,
        spec: JSON,
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> JSON:
        vid = view_id or self._new_id("V")
        external_id = str(spec.get("external_id") or "")
        if external_id:
            owner = self._external_ids.get(external_id)
            if owner is not None and owner != vid:
                raise SlackError("duplicate_external_id")
            self._external_ids[external_id] = vid
        view: JSON = {
            "id": vid,
            "team_id": self.team_id,
            "type": spec["type"],
            "title": copy.deepcopy(spec.get("title")),
            "blocks": copy.deepcopy(spec.get("blocks", [])),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "private_metadata": str(spec.get("private_metadata") or ""),
            "callback_id": str(spec.get("callback_id") or ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "root_view_id": root_view_id or vid,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[vid] = view
        return view

    def _views_open(self, a: JSON) -> JSON:
        trigger = self._exchange_trigger(a)
        spec = self._parse_view(a.get("view"), ("modal",))
        view = self._make_view(spec)
        trigger["used"] = True
        user = trigger.get("user") or ""
        self._view_users[view["id"]] = user
        self._modal_stacks[user] = [view["id"]]
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, a: JSON) -> JSON:
        trigger = self._exchange_trigger(a)
        spec = self._parse_view(a.get("view"), ("modal",))
        user = trigger.get("user") or ""
        stack = self._modal_stacks.setdefault(user, [])
        if len(stack) >= 3:
            raise SlackError("push_limit_reached")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        view = self._make_view(spec, root_view_id=root, previous_view_id=previous)
        trigger["used"] = True
        self._view_users[view["id"]] = user
        stack.append(view["id"])
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, a: JSON) -> JSON:
        view_id = a.get("view_id")
        external_id = a.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("[ERROR] either view_id or external_id is required")
        vid = str(view_id) if view_id else self._external_ids.get(str(external_id), "")
        current = self._views.get(vid)
        if current is None:
            raise SlackError("not_found")
        spec = self._parse_view(a.get("view"), (current["type"],))
        if a.get("hash") and a["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._make_view(
            spec,
            view_id=vid,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, a: JSON) -> JSON:
        user_id = str(a.get("user_id") or "")
        if not user_id:
            raise _invalid_arguments("[ERROR] missing required field: user_id")
        if user_id not in self._users:
            raise SlackError("user_not_found")
        spec = self._parse_view(a.get("view"), ("home",))
        current_id = self._home_views.get(user_id)
        if current_id and a.get("hash") and a["hash"] != self._views[current_id]["hash"]:
            raise SlackError("hash_conflict")
        view = self._make_view(spec, view_id=current_id)
        self._home_views[user_id] = view["id"]
        self._view_users[view["id"]] = user_id
        return {"ok": True, "view": copy.deepcopy(view)}

    # ------------------------------------------------------------------ files

    def _files_get_upload_url_external(self, a: JSON) -> JSON:
        filename = str(a.get("filename") or "")
        if not filename:
            raise _invalid_arguments("[ERROR] missing required field: filename")
        try:
            length = int(a.get("length") or 0)
        except (TypeError, ValueError):
            raise _invalid_arguments("[ERROR] length must be an integer") from None
        if length <= 0:
            raise SlackError("missing_argument")
        file_id = self._new_id("F")
        upload_token = secrets.token_urlsafe(12)
        self._upload_tokens[upload_token] = file_id
        now = int(self.clock())
        self._files[file_id] = {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": filename,
            "title": filename,
            "mimetype": mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "filetype": str(a.get("snippet_type") or ""),
            "user": BOT_USER_ID,
            "user_team": self.team_id,
            "size": length,
            "mode": "hosted",
            "is_external": False,
            "is_public": False,
            "alt_txt": a.get("alt_txt"),
            "url_private": f"{self.base_url}/files-pri/{self.team_id}-{file_id}/{filename}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{BOT_USER_ID}/{file_id}",
            "channels": [],
            "groups": [],
            "ims": [],
            "_uploaded": False,
            "_completed": False,
            "_shared_to": [],
        }
        return {
            "ok": True,
            "upload_url": f"{self.base_url}/upload/v1/{upload_token}",
            "file_id": file_id,
        }

    def _handle_upload(
        self, upload_token: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        content_type = headers.get("content-type") or ""
        data = body
        if content_type.lower().startswith("multipart/form-data"):
            parts = _parse_multipart(content_type, body)
            found = parts.get("file", parts.get("filename"))
            data = found if isinstance(found, bytes) else str(found or "").encode()
        with self._lock:
            file_id = self._upload_tokens.get(upload_token)
            if file_id is None:
                status, answer = 404, b"Not Found"
            else:
                record = self._files[file_id]
                record["_uploaded"] = True
                record["size"] = len(data)
                self._file_contents[file_id] = data
                status, answer = 200, f"OK - {len(data)}".encode()
        self._notify()
        return status, {"Content-Type": "text/plain; charset=utf-8"}, answer

    def _files_complete_upload_external(self, a: JSON) -> JSON:
        files = a.get("files")
        if not isinstance(files, list) or not files:
            raise _invalid_arguments("[ERROR] missing required field: files")
        records: list[tuple[JSON, JSON]] = []
        for item in files:
            if not isinstance(item, dict) or not item.get("id"):
                raise _invalid_arguments("[ERROR] each file needs an id [json-pointer:/files]")
            record = self._files.get(str(item["id"]))
            if record is None or not record["_uploaded"] or record["_completed"]:
                raise SlackError("file_not_found")
            records.append((record, item))
        targets = _csv(a.get("channels"))
        if a.get("channel_id"):
            targets = [str(a["channel_id"]), *targets]
        convs: list[_Conversation] = []
        for target in dict.fromkeys(targets):
            conv = self._resolve(target, allow_user=True)
            if conv.is_archived:
                raise SlackError("is_archived")
            if BOT_USER_ID not in conv.members:
                raise SlackError("not_in_channel")
            convs.append(conv)
        thread_ts = a.get("thread_ts") or None
        if thread_ts and len(convs) != 1:
            raise _invalid_arguments("[ERROR] thread_ts needs exactly one channel")
        for record, item in records:
            record["_completed"] = True
            if item.get("title"):
                record["title"] = str(item["title"])
        shared: list[JSON] = [self._public_file(r) for r, _ in records]
        comment = str(a.get("initial_comment") or "")
        for conv in convs:
            message = self._store_message(
                conv,
                user=BOT_USER_ID,
                text=comment,
                thread_ts=thread_ts,
                extra={"files": shared, "upload": True, "display_as_bot": False},
            )
            for record, _ in records:
                record["_shared_to"].append(conv.id)
                bucket = "ims" if conv.kind == IM else "groups" if conv.kind == MPIM else "channels"
                record[bucket].append(conv.id)
                scope = "public" if conv.kind == PUBLIC else "private"
                shares = record.setdefault("shares", {}).setdefault(scope, {})
                shares.setdefault(conv.id, []).append({"ts": message["ts"], "reply_count": 0})
        return {
            "ok": True,
            "files": [{"id": r["id"], "title": r["title"]} for r, _ in records],
        }

    @staticmethod
    def _public_file(record: JSON) -> JSON:
        return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}

    # ----------------------------------------------------------- response_url

    def _handle_response_url(
        self, response_id: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        text_plain = {"Content-Type": "text/plain; charset=utf-8"}
        with self._lock:
            resp = self._response_urls.get(response_id)
            if resp is None:
                return 404, text_plain, b"no_service"
            now = self.clock()
            raw = body.decode("utf-8", "replace")
            parsed: Any
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
            status, answer = self._apply_response(resp, parsed)
            resp.posts.append(
                ResponsePost(
                    response_id=response_id, body=parsed, status=status, answer=answer, time=now
                )
            )
        self._notify()
        return status, text_plain, answer.encode()

    def _apply_response(self, resp: _ResponseUrl, body: Any) -> tuple[int, str]:
        accepted = sum(1 for p in resp.posts if p.status == 200)
        if accepted >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        conv = self._conversations.get(resp.channel_id or "")
        shown_key = (resp.channel_id or "", resp.user_id or "")
        if _flag(body.get("delete_original")):
            if conv is not None and resp.message_ts is not None:
                message = self._messages.get(conv.id, {}).get(resp.message_ts)
                if message is None:
                    return 404, "message_not_found"
                self._delete_message(conv, message)
            elif self._ephemerals.get(shown_key):
                self._ephemerals[shown_key].pop()
            return 200, "ok"
        text = body.get("text")
        blocks = body.get("blocks")
        if not text and not blocks and not body.get("attachments"):
            return 400, "no_text"
        if blocks is not None and (
            not isinstance(blocks, list) or self._block_errors(blocks, limit=50, pointer="/blocks")
        ):
            return 400, "invalid_blocks"
        if _flag(body.get("replace_original")):
            if conv is not None and resp.message_ts is not None:
                message = self._messages.get(conv.id, {}).get(resp.message_ts)
                if message is None:
                    return 404, "message_not_found"
                message["text"] = str(text or "")
                if blocks is not None:
                    message["blocks"] = copy.deepcopy(blocks)
                else:
                    message.pop("blocks", None)
                return 200, "ok"
            shown = self._ephemerals.get(shown_key)
            if shown:
                shown[-1]["text"] = str(text or "")
                if blocks is not None:
                    shown[-1]["blocks"] = copy.deepcopy(blocks)
                else:
                    shown[-1].pop("blocks", None)
                return 200, "ok"
        if body.get("response_type") == "in_channel":
            if conv is not None:
                try:
                    self._store_message(
                        conv,
                        user=BOT_USER_ID,
                        text=str(text or ""),
                        blocks=blocks,
                        attachments=body.get("attachments"),
                        thread_ts=body.get("thread_ts"),
                    )
                except SlackError as exc:
                    return 404, exc.error
            return 200, "ok"
        ephemeral: JSON = {"type": "message", "subtype": "bot_message", "text": str(text or "")}
        ephemeral.update(self._bot_message_base())
        ephemeral["ts"] = self._next_ts()
        if blocks is not None:
            ephemeral["blocks"] = copy.deepcopy(blocks)
        if body.get("thread_ts"):
            ephemeral["thread_ts"] = str(body["thread_ts"])
        self._ephemerals.setdefault(shown_key, []).append(ephemeral)
        return 200, "ok"


class _Handler(BaseHTTPRequestHandler):
    emulator: SlackEmulator
    server_version = "SlackEmulator/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.emulator._handle_http(self)

    def do_POST(self) -> None:
        self.emulator._handle_http(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass
