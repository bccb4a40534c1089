"""Logging setup: readable lines for people, or JSON lines for log pipelines.

JSON records carry the incident and deployment ids of the flow that wrote
them (services.logcontext), so one grep finds everything about DEP-3.

Every record passes `LogHygiene` first: the bot's secrets are redacted, the
credentials a Slack request carries (verification token, response_url,
trigger_id) are cut out, and a message is bounded, so a hostile request body
can neither fill the log nor leak through it (Bolt logs whole request bodies).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from services.logcontext import current
from services.redaction import REDACTED, SECRETS

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Enough for any line the bot writes itself; a request body quoted by a library is cut.
MAX_MESSAGE_CHARS = 2000
# The parts of a Slack request that let anyone who reads them act as Slack or as the
# user (answer through the response_url, open a form with the trigger_id), whether
# quoted form-encoded (token=…&), as JSON ("token": "…") or as a Python dict.
_REQUEST_CREDENTIAL = re.compile(
    r"""(?P<key>(?<![A-Za-z0-9_])(?:token|response_url|trigger_id))"""
    r"""(?P<sep>["']?\s*[:=]\s*["']?)(?P<value>[^"'&\s,}]+)"""
)
# slack_bolt's request verification logs the whole body of every request it rejects.
_BOLT_REJECTED = re.compile(r"Invalid request signature detected \(signature: .*", re.DOTALL)


def clean(message: str) -> str:
    """A message safe to write: secrets redacted, request credentials cut, length bounded."""
    if _BOLT_REJECTED.match(message):
        message = (
            f"Invalid request signature detected (request of {len(message)} characters not logged)"
        )
    message = SECRETS.redact(message)
    message = _REQUEST_CREDENTIAL.sub(lambda m: m["key"] + m["sep"] + REDACTED, message)
    if len(message) > MAX_MESSAGE_CHARS:
        cut = len(message) - MAX_MESSAGE_CHARS
        message = f"{message[:MAX_MESSAGE_CHARS]}… [{cut} more characters not logged]"
    return message


class LogHygiene(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = SECRETS.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **current(),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(*, verbose: bool, json_lines: bool, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(LogHygiene())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # The scheduler logs every tick at INFO; ours says what each tick sent.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
