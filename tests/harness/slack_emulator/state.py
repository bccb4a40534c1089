"""The emulator's state, the lock that guards it, and the helpers every API family uses
(ids, timestamps, resolving and rendering conversations and messages, waiting)."""

from __future__ import annotations

import base64
import copy
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from typing import Any

from tests.harness import slack_rate_limits, slack_scopes
from tests.harness.block_kit import block_errors
from tests.harness.slack_emulator.model import (
    APP_ID,
    APP_METHOD_SCOPES,
    APP_TOKEN,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    ApiCall,
    SlackError,
    _Conversation,
    _ResponseUrl,
    _SocketSession,
    _ts_key,
)
from tests.harness.slack_scopes import IM, MPIM, PRIVATE, PUBLIC


class EmulatorState:
    """All state lives behind one lock; every public accessor returns deep copies.

    Each API family is a mixin over this class (see the package); a family calls another's
    helper only through the composed :class:`SlackEmulator`."""

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

        self._handlers = self._web_api_methods()
        missing = set(self._handlers) ^ set(slack_scopes.METHOD_SCOPES)
        assert not missing, f"scope table and handlers disagree: {sorted(missing)}"
        self._app_handlers = self._app_methods()
        assert set(self._app_handlers) == set(APP_METHOD_SCOPES)
        assert not set(self._app_handlers) & set(self._handlers)
        served = set(self._handlers) | set(self._app_handlers)
        assert served == slack_rate_limits.LIMITED_METHODS, "every method needs its tier"

        self.add_user(BOT_USER_ID, BOT_NAME, real_name="Hotfix Bot", is_bot=True)

    def _web_api_methods(self) -> dict[str, Callable[[JSON], JSON]]:
        """Each bot-token Web API method and the handler that answers it."""
        raise NotImplementedError

    def _app_methods(self) -> dict[str, Callable[[JSON], JSON]]:
        """Each app-token method and the handler that answers it."""
        raise NotImplementedError

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

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

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

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
