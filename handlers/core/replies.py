"""What a handler returns: the name of a template and the data to fill it.

Handlers never build Slack JSON themselves; the renderer turns a Reply into a
Block Kit message for Slack or into text for the console, from the same
template, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    template: str
    data: Mapping[str, Any] = field(default_factory=dict)
    public: bool = False  # True: visible to the channel; False: only to the person who asked
    # Set on replies whose data never changes while the bot runs (help): the renderer
    # keeps the rendered message under this key instead of rendering it again.
    cache_key: str | None = None
    # A form to open (Slack: views.open with the request's trigger id) instead of a message.
    modal: bool = False


def error_reply(message: str, *, hint: str | None = None, error_id: str | None = None) -> Reply:
    return Reply("error", {"message": message, "hint": hint, "error_id": error_id})
