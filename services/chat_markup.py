"""Text the bot writes itself in the chat's markup, e.g. a mention of a user id it checked.

Message templates escape every string they are given, so a person's text can never
ping anyone; a string of this type is the one exception, shown as written. Never
wrap text that a person typed or another system returned in it.
"""

from __future__ import annotations


class ChatMarkup(str):
    """A string the renderer does not escape."""

    __slots__ = ()
