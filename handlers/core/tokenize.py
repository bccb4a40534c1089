"""Turning the text of a slash command into argv-style tokens.

People type what the runbooks say: `--title="Payment Gateway Down"`,
`--flag value`, single or double quotes, and their Slack or Mac client may
have turned quotes into curly ones. Slack also escapes `&`, `<` and `>` and
sends mentions as `<@U123|name>` and `<#C123|name>`, which stay whole tokens
here and are decoded by the parameter types.
"""

from __future__ import annotations

import shlex

_TYPOGRAPHIC_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u00ab": '"',
        "\u00bb": '"',
    }
)


class TokenizeError(ValueError):
    """The text cannot be split into arguments (an unclosed quote)."""


def normalise_quotes(text: str) -> str:
    return text.translate(_TYPOGRAPHIC_QUOTES)


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of the three control characters (and only those)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def tokenize(text: str) -> list[str]:
    try:
        tokens = shlex.split(normalise_quotes(text), comments=False, posix=True)
    except ValueError as exc:
        raise TokenizeError(
            "A quote is not closed. Put values with spaces or apostrophes inside double"
            ' quotes, e.g. --message="it\'s recovering".'
        ) from exc
    return [unescape_slack(token) for token in tokens]


def split_words(text: str, count: int) -> tuple[list[str], str]:
    """The first `count` whitespace-separated words and the untouched rest of the text."""
    parts = text.strip().split(None, count)
    if len(parts) <= count:
        return parts, ""
    return parts[:count], unescape_slack(normalise_quotes(parts[count]))
