"""conversations.* (create, invite, join, kick, info, members, history, replies, list,
topic, purpose, archive, open), with the channels tests seed and read."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tests.harness import slack_scopes
from tests.harness.slack_emulator.model import (
    _CHANNEL_NAME_OK,
    BOT_USER_ID,
    JSON,
    SlackError,
    _Conversation,
    _csv,
    _flag,
    _ts_key,
)
from tests.harness.slack_emulator.state import EmulatorState
from tests.harness.slack_scopes import IM, MPIM, PRIVATE, PUBLIC


class ConversationsMethods(EmulatorState):
    """The conversations.* methods."""

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

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's DM with ``user_id`` if one was opened."""
        with self._lock:
            for conv in self._conversations.values():
                if conv.kind == IM and conv.im_user == user_id:
                    return conv.id
        return None

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
