"""files.* (the external upload flow), bookmarks.* and pins.*."""

from __future__ import annotations

import copy
import mimetypes
import re
import secrets
from collections.abc import Mapping

from tests.harness.slack_emulator.model import (
    APP_ID,
    BOT_USER_ID,
    JSON,
    SlackError,
    _Conversation,
    _csv,
    _invalid_arguments,
    _parse_multipart,
)
from tests.harness.slack_emulator.state import EmulatorState
from tests.harness.slack_scopes import IM, MPIM, PUBLIC


class FilesMethods(EmulatorState):
    """The files.*, bookmarks.* and pins.* methods."""

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

    def bookmarks(self, channel_id: str) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._bookmarks.get(channel_id, []))

    def pins(self, channel_id: str) -> list[JSON]:
        """Pinned messages of the channel (current state), in pin order."""
        with self._lock:
            return [copy.deepcopy(item["message"]) for item in self._pin_items(channel_id)]

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
