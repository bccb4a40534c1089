"""Secrets come from the environment (or a .env file) and never leave the process.

`RedactingFilter` replaces any secret value that would reach a log line, so a
token pasted into an exception message or a URL is never written out.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

SLACK_API_URL_ENV = "SLACK_API_URL"


@dataclass(frozen=True)
class Secrets:
    bot_token: str | None
    app_token: str | None
    signing_secret: str | None

    def values(self) -> list[str]:
        return [v for v in (self.bot_token, self.app_token, self.signing_secret) if v]

    def redact(self, text: str) -> str:
        for value in self.values():
            text = text.replace(value, "[redacted]")
        return text


def load_secrets(env_file: Path | None = Path(".env")) -> Secrets:
    if env_file is not None and env_file.exists():
        load_dotenv(env_file, override=False)
    return Secrets(
        bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
        app_token=os.environ.get("SLACK_APP_TOKEN") or None,
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
    )


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets.values():
            return True
        message = record.getMessage()
        redacted = self.secrets.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            formatter = logging.Formatter()
            record.exc_text = self.secrets.redact(formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.secrets.redact(record.exc_text)
        return True


def install_redaction(secrets: Secrets) -> None:
    """Redact secrets from every handler's output, wherever a record comes from."""
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
