"""response_url: what an interaction's response_url accepts (in_channel, ephemeral,
replace_original, delete_original) and refuses (used_url, no_text, invalid_blocks)."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Mapping
from typing import Any

from tests.harness.slack_emulator.model import (
    BOT_USER_ID,
    JSON,
    RESPONSE_URL_MAX_USES,
    ResponsePost,
    SlackError,
    _flag,
    _ResponseUrl,
)
from tests.harness.slack_emulator.state import EmulatorState


class ResponseUrls(EmulatorState):
    """The response_urls handed out with interactions."""

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
