"""Keep the newline after a block tag that ends a line of text.

The templates render with ``trim_blocks``, so a tag alone on its line (``{% if %}``,
``{% endfor %}``) leaves no empty line behind. But trim_blocks also eats the newline
after a tag that merely *ends* a line of text::

    … stage 2/4{% if left %} · 1 min left{% endif %}
    :warning: *Waiting for a decision* …

renders ``… 1 min left:warning: *Waiting…`` — two lines glued into one. Templates used
to work around it with an empty line after such tags, which breaks as soon as the tag
is not the last thing written. This extension fixes it for every template, shipped or
overridden: a line holding text besides its tags gets ``+%}`` on its last tag (Jinja's
"do not trim this one"), so only tag-only lines are trimmed.
"""

from __future__ import annotations

import re

from jinja2.ext import Extension

_TAGS = re.compile(r"\{%.*?%\}|\{#.*?#\}")


def keep_line_ends(source: str) -> str:
    lines = source.splitlines(keepends=True)
    return "".join(_keep(line) for line in lines)


def _keep(line: str) -> str:
    body = line.rstrip("\r\n")
    if body == line or not body.endswith("%}") or body.endswith(("+%}", "-%}")):
        return line  # no newline to keep, or the tag says what it wants
    opened = body.rfind("{%")
    if opened < 0 or "%}" in body[opened:-2]:
        return line  # the tag began on an earlier line: not an inline tag
    if not _TAGS.sub("", body).strip():
        return line  # only tags on this line: trimming it is what trim_blocks is for
    return body[:-2] + "+%}" + line[len(body) :]


class KeepLineEnds(Extension):
    """Jinja extension applying `keep_line_ends` to every template before it is parsed."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return keep_line_ends(source)
