"""Escaping by default: every value a template is given reaches it already escaped.

Slack parses `&`, `<` and `>` in mrkdwn text and in a message's fallback `text`
(`<!channel>`, `<@U…>`, `<https://…|…>`), so a person's text must reach Slack as
`&amp;`, `&lt;` and `&gt;`. Rather than trusting each template (shipped or a team's
override) to remember a filter, the renderer escapes the *data*: strings in the
data, and strings read from objects in it, arrive in the template as `Escaped`
values. What a template writes itself (`*bold*`, `<#C…>`, a `mention` filter's
`<@U…>`) is never escaped, so template-authored markup stays markup.

Where Slack does not parse markup (plain_text objects, button and option values,
initial values, ids), `restore_literals` turns the escaped text back into the
text as typed after rendering, so a title "A & B" is not shown as "A &amp; B" and a
value comes back to the bot exactly as it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2

from services.chat_markup import ChatMarkup


def escape_mrkdwn(value: Any) -> str:
    """Slack's escaping: only &, < and > are control characters in message text."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ENTITY = re.compile("&(amp|lt|gt);")
_CHARS = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_mrkdwn(text: str) -> str:
    """The exact inverse of escape_mrkdwn (one pass, so "&amp;lt;" becomes "&lt;")."""
    return _ENTITY.sub(lambda m: _CHARS[m.group(1)], text)


class Escaped(str):
    """A string from a template's data, escaped for Slack; `raw` is the text as given."""

    raw: str

    def __new__(cls, raw: str) -> Escaped:
        made = super().__new__(cls, escape_mrkdwn(raw))
        made.raw = raw
        return made


def user_value(value: Any) -> Any:
    """`value` as a template may see it: strings escaped, containers walked."""
    if isinstance(value, Escaped | ChatMarkup):
        return value
    if isinstance(value, str):
        return Escaped(value)
    if isinstance(value, Mapping):
        return {key: user_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [user_value(item) for item in value]
    return value  # numbers, None, dates; objects are escaped attribute by attribute


class EscapingEnvironment(jinja2.Environment):
    """Attributes and items read in a template (`i.title`, `c["x"]`) come out escaped."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        return user_value(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return user_value(super().getitem(obj, argument))


def raw_text(value: Any) -> str:
    """The text as given, whether or not it was escaped on its way into the template."""
    if value is None:
        return ""
    return value.raw if isinstance(value, Escaped) else str(value)


def restore_literals(node: Any, *, keep: str | None = None) -> Any:
    """Unescape every string Slack takes literally; mrkdwn text objects stay escaped.

    `keep` names a top-level key that stays escaped too: a message's fallback `text`,
    which Slack parses like mrkdwn.
    """
    if isinstance(node, dict):
        parsed = node.get("type") == "mrkdwn"
        return {
            key: (value if (parsed and key == "text") or key == keep else restore_literals(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [restore_literals(item) for item in node]
    if isinstance(node, str):
        return unescape_mrkdwn(node)
    return node
