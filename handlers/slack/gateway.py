"""The one module that carries the domain's chat calls to Slack's Web API.

It implements `services.chat.Chat`: renders templates to Block Kit, calls the
WebClient (whose retry handlers already absorb rate limits and transient
errors), and turns Slack's `ok:false` answers into ChatError with Slack's
error code, so the domain can report what failed without knowing Slack.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from handlers.core.rendering import Renderer, TemplateError
from handlers.slack.directory import PAGE_SIZE, UserDirectory
from services import outbox
from services.chat import ChatError, ChatMessage, InviteFailure, Message, NameTakenError, Posted
from services.clock import Clock, SystemClock
from services.metrics import SLACK_API_ERRORS
from services.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
# The metadata event type that carries a message's `Message.key`.
MESSAGE_KEY_EVENT = "hotfix_bot_message"
_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,80}")
# conversations.invite takes up to 1,000 user ids (docs.slack.dev/reference/methods/conversations.invite).
INVITE_BATCH = 1000


def _invite_errors(exc: ChatError) -> list[Any]:
    """The per-user `errors` of a refused conversations.invite, when Slack listed them."""
    cause = exc.__cause__
    if isinstance(cause, SlackApiError):
        found = cause.response.get("errors")
        return list(found) if isinstance(found, list) else []
    return []


class SlackChat:
    def __init__(
        self,
        client: WebClient,
        renderer: Renderer,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.renderer = renderer
        # With a store, posts and edits Slack cannot take go to the outbox instead of failing.
        self.store = store
        self.clock = clock or SystemClock()
        self._bot_user: str | None = None
        self.directory = UserDirectory(self._users_page, clock=self.clock)

    def _queue(self, op: str, channel_id: str, message: Message, **where: Any) -> Posted:
        assert self.store is not None
        placeholder = outbox.enqueue(
            self.store, clock=self.clock, channel_id=channel_id, op=op, message=message, **where
        )
        log.warning("Slack unreachable: %s to %s queued in the outbox", op, channel_id)
        return Posted(channel_id=channel_id, ts=where.get("ts") or placeholder)

    def _must_queue(self, channel_id: str, *timestamps: str | None) -> bool:
        """Queue behind earlier queued messages (order per channel) or a not-yet-posted one."""
        if self.store is None:
            return False
        return any(outbox.is_pending(ts) for ts in timestamps) or outbox.has_backlog(
            self.store, channel_id
        )

    def _call(self, method: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error", "unknown_error"))
            if not _ERROR_CODE.fullmatch(error):
                # Not one of Slack's codes: the body of an error page (HTML from a proxy
                # during an outage), which must not reach people or labels raw.
                error = f"http_{status}"
            log.warning("Slack %s failed: %s", method, error)
            SLACK_API_ERRORS.labels(method, error).inc()
            if error == "name_taken":
                raise NameTakenError(method, error) from exc
            raise ChatError(method, error, retryable=status == 429 or status >= 500) from exc
        except (SlackClientError, OSError) as exc:
            log.warning("Slack %s unreachable: %s", method, type(exc).__name__)
            SLACK_API_ERRORS.labels(method, "slack_unreachable").inc()
            raise ChatError(method, "slack_unreachable", retryable=True) from exc

    def _render(self, message: Message, *, lenient: bool = False) -> dict[str, Any]:
        from handlers.core.replies import Reply

        reply = Reply(message.template, message.data)
        rendered = self.renderer.render_lenient(reply) if lenient else self.renderer.render(reply)
        return {"text": rendered.text, "blocks": rendered.blocks}

    def create_channel(self, name: str, *, private: bool) -> str:
        response = self._call(
            "conversations.create",
            lambda: self.client.conversations_create(name=name, is_private=private),
        )
        return str(response["channel"]["id"])

    def invite(self, channel_id: str, user_ids: list[str]) -> list[InviteFailure]:
        """One conversations.invite per INVITE_BATCH people (Tier 3: 50 a minute per workspace).

        `force` invites everyone who can be invited; Slack lists the others in `errors`
        (`{"user", "ok": false, "error"}` each), which become one failure per person. A
        call that fails as a whole (no `errors`) fails everyone it named with its error.
        """
        failures: list[InviteFailure] = []
        for start in range(0, len(user_ids), INVITE_BATCH):
            batch = user_ids[start : start + INVITE_BATCH]
            try:
                response = self._call(
                    "conversations.invite",
                    partial(
                        self.client.conversations_invite,
                        channel=channel_id,
                        users=batch,
                        force=True,
                    ),
                )
                per_user = response.get("errors") or []
            except ChatError as exc:
                per_user = _invite_errors(exc)
                if not per_user:
                    failures += [
                        InviteFailure(u, exc.error, retryable=exc.retryable) for u in batch
                    ]
                    continue
            failures += [
                InviteFailure(str(item["user"]), str(item.get("error") or "cant_invite"))
                for item in per_user
                if isinstance(item, dict) and str(item.get("user") or "") in batch
            ]
        return failures

    def set_topic(self, channel_id: str, topic: str) -> None:
        self._call(
            "conversations.setTopic",
            lambda: self.client.conversations_setTopic(channel=channel_id, topic=topic[:250]),
        )

    def add_bookmark(self, channel_id: str, *, title: str, link: str) -> None:
        self._call(
            "bookmarks.add",
            lambda: self.client.bookmarks_add(
                channel_id=channel_id, title=title, type="link", link=link
            ),
        )

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        if self._must_queue(channel_id, thread_ts):
            return self._queue(
                "post", channel_id, message, thread_ts=thread_ts, broadcast=broadcast
            )
        try:
            return self._post_now(channel_id, message, thread_ts=thread_ts, broadcast=broadcast)
        except ChatError as exc:
            if exc.retryable and self.store is not None:
                return self._queue(
                    "post", channel_id, message, thread_ts=thread_ts, broadcast=broadcast
                )
            raise

    def _post_now(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None,
        broadcast: bool,
        lenient: bool = False,
    ) -> Posted:
        body = self._render(message, lenient=lenient)
        extra: dict[str, Any] = {}
        if thread_ts:
            extra["thread_ts"] = thread_ts
            if broadcast:
                extra["reply_broadcast"] = True
        if message.key:
            extra["metadata"] = {
                "event_type": MESSAGE_KEY_EVENT,
                "event_payload": {"key": message.key},
            }
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel_id, unfurl_links=False, **body, **extra
            ),
        )
        return Posted(channel_id=str(response["channel"]), ts=str(response["ts"]))

    def find_channel(self, name: str) -> str | None:
        cursor = None
        while True:
            response = self._call(
                "conversations.list",
                partial(
                    self.client.conversations_list,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=1000,
                    cursor=cursor,
                ),
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name and channel.get("creator") == self._bot_user_id():
                    return str(channel["id"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def find_message(
        self, channel_id: str, key: str, *, thread_ts: str | None = None
    ) -> str | None:
        for message in self._recent(channel_id, thread_ts):
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == MESSAGE_KEY_EVENT
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return str(message["ts"])
        return None

    def _recent(
        self, channel_id: str, thread_ts: str | None, *, max_pages: int = 50
    ) -> list[dict[str, Any]]:
        """Where a resumed flow looks for what it posted minutes ago, with their metadata.

        A channel: the newest page of its history (newest first). A thread: all of it, since
        conversations.replies answers oldest first and a long incident's announcement thread
        outgrows a page; its pages are followed to the end (`max_pages` of 200 at most).
        """
        if not thread_ts:
            response = self._call(
                "conversations.history",
                lambda: self.client.conversations_history(
                    channel=channel_id, limit=200, include_all_metadata=True
                ),
            )
            return list(response.get("messages") or [])
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(max_pages):
            response = self._call(
                "conversations.replies",
                partial(
                    self.client.conversations_replies,
                    channel=channel_id,
                    ts=thread_ts,
                    limit=200,
                    cursor=cursor,
                    include_all_metadata=True,
                ),
            )
            messages += response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def _bot_user_id(self) -> str | None:
        if self._bot_user is None:
            response = self._call("auth.test", self.client.auth_test)
            self._bot_user = str(response.get("user_id") or "") or None
        return self._bot_user

    def update(self, channel_id: str, ts: str, message: Message) -> None:
        if self._must_queue(channel_id, ts):
            self._queue("update", channel_id, message, ts=ts)
            return
        try:
            self._update_now(channel_id, ts, message)
        except ChatError as exc:
            if exc.retryable and self.store is not None:
                self._queue("update", channel_id, message, ts=ts)
                return
            raise

    def _update_now(
        self, channel_id: str, ts: str, message: Message, *, lenient: bool = False
    ) -> None:
        body = self._render(message, lenient=lenient)
        self._call(
            "chat.update", lambda: self.client.chat_update(channel=channel_id, ts=ts, **body)
        )

    def drain_outbox(self) -> list[str]:
        """Send what Slack could not take, in order per channel; returns the channels caught up.

        A channel stops at its first failure that may pass (Slack still away) and is tried
        again on the next tick; an item Slack refuses for good is marked and skipped.
        """
        if self.store is None:
            return []
        drained = []
        items = outbox.backlog(self.store)
        for channel_id in dict.fromkeys(item.channel_id for item in items):
            queued = [i for i in items if i.channel_id == channel_id]
            if self._drain_channel(queued):
                drained.append(channel_id)
                late = [item for item in queued if not item.relayed]
                if late:
                    self._say_what_happened(channel_id, late)
        return drained

    def _drain_channel(self, queued: list[outbox.Queued]) -> bool:
        assert self.store is not None
        for item in queued:
            current = self._refreshed(item)
            try:
                try:
                    real_ts = self._send_queued(current, lenient=False)
                except TemplateError as exc:
                    # Queued by an earlier version whose data this version's templates no
                    # longer take (an upgrade while Slack was away): sent with its gaps left
                    # empty; if even that fails it is dropped, since keeping it would hold
                    # every later message of the channel behind it.
                    log.warning("outbox item %s sent with gaps: %s", current.id, exc)
                    try:
                        real_ts = self._send_queued(current, lenient=True)
                    except TemplateError as again:
                        log.error(
                            "outbox item %s dropped: it cannot be rendered (%s)", current.id, again
                        )
                        real_ts = None
            except ChatError as exc:
                if exc.retryable:
                    return False
                log.warning("outbox item %s dropped: Slack refused it (%s)", current.id, exc.error)
                real_ts = None
            outbox.mark_sent(self.store, clock=self.clock, item=current, real_ts=real_ts)
        return True

    def _send_queued(self, item: outbox.Queued, *, lenient: bool) -> str:
        """Send one queued post or edit; the message's real ts."""
        if item.is_post:
            posted = self._post_now(
                item.channel_id,
                item.message,
                thread_ts=item.thread_ts,
                broadcast=item.broadcast,
                lenient=lenient,
            )
            return posted.ts
        assert item.ts is not None
        self._update_now(item.channel_id, item.ts, item.message, lenient=lenient)
        return item.ts

    def _refreshed(self, item: outbox.Queued) -> outbox.Queued:
        """The item as stored now: an earlier post may have replaced its placeholders."""
        assert self.store is not None
        for fresh in outbox.backlog(self.store):
            if fresh.id == item.id:
                return fresh
        return item

    def _say_what_happened(self, channel_id: str, queued: list[outbox.Queued]) -> None:
        data = outbox.summary_data(queued)
        try:
            self._post_now(
                channel_id, Message("outbox_summary", data), thread_ts=None, broadcast=False
            )
        except ChatError as exc:
            log.warning("outbox summary not posted in %s: %s", channel_id, exc.error)

    def direct_message(self, user_id: str, message: Message) -> Posted:
        return self.post(self._direct_channel(user_id), message)

    def find_direct_message(self, user_id: str, key: str) -> Posted | None:
        channel_id = self._direct_channel(user_id)
        ts = self.find_message(channel_id, key)
        return Posted(channel_id=channel_id, ts=ts) if ts else None

    def _direct_channel(self, user_id: str) -> str:
        opened = self._call(
            "conversations.open", lambda: self.client.conversations_open(users=user_id)
        )
        return str(opened["channel"]["id"])

    def usergroup_members(self, usergroup_id: str) -> list[str]:
        response = self._call(
            "usergroups.users.list",
            lambda: self.client.usergroups_users_list(usergroup=usergroup_id),
        )
        users: list[object] = response.get("users") or []
        return [str(u) for u in users]

    def user_name(self, user_id: str) -> str | None:
        try:
            response = self._call("users.info", lambda: self.client.users_info(user=user_id))
        except ChatError as exc:
            if exc.error in ("user_not_found", "user_not_visible"):
                return None
            raise
        user = response["user"]
        if user.get("deleted"):
            return None
        profile = user.get("profile") or {}
        return str(profile.get("display_name") or user.get("name") or user_id)

    def find_users(self, name: str) -> list[str]:
        return self.directory.find(name)

    def _users_page(self, cursor: str) -> dict[str, Any]:
        response = self._call(
            "users.list",
            lambda: self.client.users_list(limit=PAGE_SIZE, cursor=cursor or None),
        )
        return dict(response.data) if isinstance(response.data, dict) else {}

    def read_message(self, channel_id: str, ts: str) -> ChatMessage | None:
        response = self._call(
            "conversations.history",
            lambda: self.client.conversations_history(
                channel=channel_id, latest=ts, oldest=ts, inclusive=True, limit=1
            ),
        )
        messages = response.get("messages") or []
        if not messages:
            # A reply inside a thread is not in the channel's history.
            replies = self._call(
                "conversations.replies",
                # Slack puts the thread's parent first, so ask for it and the reply.
                lambda: self.client.conversations_replies(
                    channel=channel_id, ts=ts, latest=ts, oldest=ts, inclusive=True, limit=2
                ),
            )
            messages = [m for m in replies.get("messages") or [] if m.get("ts") == ts]
        if not messages:
            return None
        found = messages[0]
        return ChatMessage(
            user=str(found.get("user") or found.get("bot_id") or ""),
            text=str(found.get("text", "")),
            ts=ts,
        )

    def upload_file(
        self, channel_id: str, *, filename: str, content: str, title: str, comment: str
    ) -> None:
        self._call(
            "files.upload",
            lambda: self.client.files_upload_v2(
                channel=channel_id,
                filename=filename,
                content=content,
                title=title,
                initial_comment=comment,
            ),
        )
