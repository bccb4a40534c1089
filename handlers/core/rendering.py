"""Templates to messages: Jinja2 renders YAML that becomes Block Kit plus fallback text.

Templates live in `templates/<name>.yml.j2`; a team may point
`templates_dir` at a directory of its own whose files win over the shipped
ones. Escaping is not left to the templates: every value reaches a template
already escaped for Slack (handlers/core/escaping.py), and every rendered document is
cut to Slack's Block Kit limits (handlers/core/block_limits.py), so no title can smuggle
in a mention or make Slack refuse a message, whatever a template forgets. A
template still quotes each value for YAML with `q`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import yaml
from jinja2.filters import do_truncate

from handlers.core.block_limits import fit_document
from handlers.core.escaping import (
    Escaped,
    EscapingEnvironment,
    escape_mrkdwn,
    raw_text,
    restore_literals,
    user_value,
)
from handlers.core.line_tags import KeepLineEnds
from handlers.core.replies import Reply

SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SUFFIX = ".yml.j2"
CACHE_SIZE = 64
# libyaml's loader is ~10x faster than the pure-Python one; every reply is parsed once.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    blocks: list[dict[str, Any]]

    def as_response(self, *, public: bool) -> dict[str, Any]:
        """Arguments for ack()/respond(): visible to the channel or only to the asker."""
        return {
            "text": self.text,
            "blocks": self.blocks,
            "response_type": "in_channel" if public else "ephemeral",
        }


@dataclass(frozen=True)
class TemplateProblem:
    template: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.template}:{self.line}" if self.line else self.template
        return f"{where}: {self.message}"


class TemplateError(Exception):
    """A template failed to render or rendered something that is not a message."""


# What YAML (and Slack) cannot carry: C0/C1 controls except tab/newline, DEL, lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def quote(value: Any) -> str:
    """A YAML-safe (JSON) string literal for any value; unprintable characters are dropped."""
    if value is None:
        return '""'
    text = value if isinstance(value, str) else str(value)
    return json.dumps(_UNPRINTABLE.sub("", text), ensure_ascii=False)


def already_escaped(value: Any) -> str:
    """The `mrkdwn` filter: values arrive escaped, so it changes nothing (kept for overrides)."""
    return "" if value is None else str(value)


@jinja2.pass_environment
def truncate(env: jinja2.Environment, value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's truncate, cutting the text as typed so no `&amp;` is split in half."""
    if isinstance(value, Escaped):
        return escape_mrkdwn(do_truncate(env, value.raw, *args, **kwargs))
    return do_truncate(env, "" if value is None else str(value), *args, **kwargs)


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,}")


def mention_target(target: Any) -> str:
    """A user id as `<@U…>`, a user group id as `<!subteam^S…>`; anything else as text."""
    text = raw_text(target)
    return f"<!subteam^{text}>" if _SLACK_GROUP.fullmatch(text) else mention(target)


def mention(actor: Any) -> str:
    """`<@U123>` for a Slack user id; console and CLI actors are shown by name."""
    text = raw_text(actor)
    return f"<@{text}>" if _SLACK_USER.fullmatch(text) else escape_mrkdwn(text)


class Renderer:
    def __init__(self, *, override_dir: Path | None = None, zone: ZoneInfo | None = None) -> None:
        self.override_dir = override_dir
        # Rendered messages by Reply.cache_key, the most recent CACHE_SIZE kept.
        self._cache: OrderedDict[str, RenderedMessage] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._render_lock = threading.Lock()
        self.zone = zone or ZoneInfo("UTC")
        search_path = [str(p) for p in (override_dir, SHIPPED_TEMPLATES) if p is not None]
        # Slack messages get escaped data; plain-text documents (the postmortem) do not.
        self.env = self._environment(EscapingEnvironment, search_path)
        # For messages queued by an earlier version (the outbox): what its data lacks renders
        # empty instead of failing, so the message still goes out, with a gap.
        self.lenient_env = self._environment(
            EscapingEnvironment, search_path, undefined=jinja2.ChainableUndefined
        )
        self.text_env = self._environment(jinja2.Environment, search_path)
        # Email's HTML part: every value HTML-escaped, whatever the template forgets.
        self.html_env = self._environment(jinja2.Environment, search_path, autoescape=True)

    def _environment(
        self,
        kind: type[jinja2.Environment],
        search_path: list[str],
        *,
        autoescape: bool = False,
        undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    ) -> jinja2.Environment:
        env = kind(
            loader=jinja2.FileSystemLoader(search_path),
            undefined=undefined,
            autoescape=autoescape,  # YAML and Markdown are not HTML; email's HTML part is
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            extensions=[KeepLineEnds],
        )
        env.filters.update(
            q=quote,
            mrkdwn=already_escaped,
            truncate=truncate,
            mention=mention,
            mention_target=mention_target,
            time=self.format_time,
        )
        return env

    def format_time(self, value: Any, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
        if value is None:
            return ""
        moment = datetime.fromisoformat(raw_text(value)) if isinstance(value, str) else value
        return str(moment.astimezone(self.zone).strftime(fmt))

    def render_data(
        self, name: str, data: dict[str, Any], *, lenient: bool = False
    ) -> dict[str, Any]:
        """Render a template to its YAML document (a message, a modal, a home tab).

        The data is escaped on its way in; on the way out, what Slack takes literally is
        unescaped again and everything is cut to Slack's limits. `lenient`: missing data
        renders empty (only for what an earlier version queued).
        """
        env = self.lenient_env if lenient else self.env
        try:
            template = env.get_template(name + SUFFIX)
            source = template.render(**user_value(data))
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc
        try:
            document = yaml.load(source, Loader=YamlLoader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise TemplateError(f"template {name} rendered invalid YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise TemplateError(f"template {name} must render a mapping")
        # A message's fallback `text` is parsed like mrkdwn: it stays escaped.
        literal: dict[str, Any] = restore_literals(document, keep="text")
        return fit_document(literal)

    def render_text(self, name: str, data: dict[str, Any]) -> str:
        """Render a plain-text template (`<name>.md.j2`), e.g. the postmortem."""
        try:
            return self.text_env.get_template(name + ".md.j2").render(**data)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc

    def render_file(self, name: str, data: dict[str, Any]) -> str:
        """Render `templates/<name>` as it is: plain text, or HTML-escaped for `.html.j2`
        (what goes out of Slack: status page bodies, emails)."""
        env = self.html_env if name.endswith(".html.j2") else self.text_env
        try:
            return env.get_template(name).render(**data)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name}: {exc}") from exc

    def render(self, reply: Reply) -> RenderedMessage:
        key = reply.cache_key
        if key is None:
            return self._render(reply)
        cached = self._cached(key)
        if cached is not None:
            return cached
        # One cached render at a time: rendering is CPU work under the GIL, so requests
        # that miss the same key together wait for the first one's message.
        with self._render_lock:
            cached = self._cached(key)
            if cached is not None:
                return cached
            rendered = self._render(reply)
            with self._cache_lock:
                self._cache[key] = rendered
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            return rendered

    def _cached(self, key: str) -> RenderedMessage | None:
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            return cached

    def render_lenient(self, reply: Reply) -> RenderedMessage:
        """Render what an earlier version queued, its missing data left empty (never cached)."""
        return self._render(reply, lenient=True)

    def _render(self, reply: Reply, *, lenient: bool = False) -> RenderedMessage:
        document = self.render_data(reply.template, dict(reply.data), lenient=lenient)
        text = str(document.get("text") or "")
        blocks = document.get("blocks") or []
        if not text:
            raise TemplateError(f"template {reply.template} has no fallback text")
        return RenderedMessage(text=text, blocks=blocks)

    def check(self) -> list[TemplateProblem]:
        """Compile every template (shipped and overrides); report syntax errors by line."""
        problems = []
        for name in sorted(self.env.list_templates(extensions=["j2"])):
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(
                    TemplateProblem(exc.filename or name, exc.lineno, exc.message or "")
                )
        return problems
