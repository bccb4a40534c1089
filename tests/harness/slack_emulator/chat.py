"""chat.* (post, ephemeral, update, delete, permalink) and reactions.*, with the
messages tests seed and read."""

from __future__ import annotations

import copy

from tests.harness.slack_emulator.model import (
    _EMOJI_NAME_OK,
    BOT_USER_ID,
    JSON,
    SlackError,
    _Conversation,
    _flag,
)
from tests.harness.slack_emulator.state import EmulatorState


class ChatMethods(EmulatorState):
    """The chat.* and reactions.* methods."""

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

    def reactions(self, channel_id: str, ts: str) -> list[JSON]:
        with self._lock:
            found = self._messages.get(channel_id, {}).get(ts)
            return copy.deepcopy(found.get("reactions", [])) if found else []

    def ephemerals(self, channel_id: str, user: str) -> list[JSON]:
        """Ephemeral messages shown to ``user`` in the channel, oldest first
        (chat.postEphemeral and ephemeral response_url posts)."""
        with self._lock:
            return copy.deepcopy(self._ephemerals.get((channel_id, user), []))

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
