"""What the domain needs from a chat platform, and nothing more.

The incident flows talk to this protocol; `handlers.slack.gateway` is the one
module that implements it with Slack's Web API, and the console implements it
by printing. Messages cross it as a template name plus data, so the domain
never builds Block Kit and the console never sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    template: str
    data: Mapping[str, Any] = field(default_factory=dict)
    # A name for this message that `Chat.find_message` can look up later: a flow
    # resumed after a crash finds what it had already posted instead of posting twice.
    key: str | None = None


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str


@dataclass(frozen=True)
class InviteFailure:
    user_id: str
    error: str
    retryable: bool = False  # the platform was unavailable: asking again later may work


@dataclass(frozen=True)
class ChatMessage:
    """A message read back from the platform (for pinning it to the timeline)."""

    user: str
    text: str
    ts: str


class ChatError(Exception):
    """A chat platform call failed; `error` is the platform's code (e.g. `channel_not_found`)."""

    def __init__(self, method: str, error: str, *, retryable: bool = False) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.retryable = retryable


class NameTakenError(ChatError):
    """A channel with that name exists already."""


class Chat(Protocol):
    def create_channel(self, name: str, *, private: bool) -> str:
        """Create a channel and return its id; raises NameTakenError when the name is in use."""
        ...

    def invite(self, channel_id: str, user_ids: list[str]) -> list[InviteFailure]:
        """Invite people; those who could not be invited are returned, not raised."""
        ...

    def set_topic(self, channel_id: str, topic: str) -> None: ...

    def add_bookmark(self, channel_id: str, *, title: str, link: str) -> None: ...

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted: ...

    def update(self, channel_id: str, ts: str, message: Message) -> None: ...

    def direct_message(self, user_id: str, message: Message) -> Posted: ...

    def usergroup_members(self, usergroup_id: str) -> list[str]: ...

    def user_name(self, user_id: str) -> str | None:
        """The person's display name, or None when no such (active) user exists."""
        ...

    def find_users(self, name: str) -> list[str]:
        """Ids of the people who go by this name (what follows @ when typed as plain text)."""
        ...

    def read_message(self, channel_id: str, ts: str) -> ChatMessage | None: ...

    def upload_file(
        self, channel_id: str, *, filename: str, content: str, title: str, comment: str
    ) -> None: ...

    def find_channel(self, name: str) -> str | None:
        """The id of an open channel of that name that this bot created, if there is one."""
        ...

    def find_message(
        self, channel_id: str, key: str, *, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a recent message (in the thread, if given) posted with `Message.key` == key."""
        ...

    def find_direct_message(self, user_id: str, key: str) -> Posted | None:
        """A recent DM to that person posted with `Message.key` == key, if there is one."""
        ...

    def drain_outbox(self) -> list[str]:
        """Send what was queued while the platform was unreachable; the channels caught up."""
        ...
