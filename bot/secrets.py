"""Secrets come from the environment (or a .env file) and never leave the process.

`install_redaction` registers every secret value the bot knows with the one
process-wide redactor (services.redaction): the Slack tokens, the signing
secret, and the value of every environment variable the configuration names as
holding a credential (a setting ending in ``token_env``, ``secret_env``, ``key_env`` or
``password_env``, such as ``analysis.bearer_token_env``). Log lines (bot.logs), captured output of
child processes and git errors all redact with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from pydantic import BaseModel

from services.redaction import REDACTED, SECRETS
from services.settings import Settings

SLACK_API_URL_ENV = "SLACK_API_URL"
# Settings whose value is the *name* of an environment variable holding a credential.
# (`service_routing_key_env` maps services to such names: each value is one.)
# A username is not a secret: registering one would redact every path and variable that
# happens to contain it (a HOME of /home/hotfix-bot), and children would lose them.
SECRET_ENV_SUFFIXES = ("token_env", "secret_env", "key_env", "password_env")


@dataclass(frozen=True)
class Secrets:
    bot_token: str | None
    app_token: str | None
    signing_secret: str | None

    def values(self) -> list[str]:
        return [v for v in (self.bot_token, self.app_token, self.signing_secret) if v]

    def redact(self, text: str) -> str:
        for value in self.values():
            text = text.replace(value, REDACTED)
        return text


def load_secrets(env_file: Path | None = Path(".env")) -> Secrets:
    if env_file is not None and env_file.exists():
        load_dotenv(env_file, override=False)
    return Secrets(
        bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
        app_token=os.environ.get("SLACK_APP_TOKEN") or None,
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
    )


def secret_env_names(settings: Settings) -> list[str]:
    """Every environment variable the configuration names as holding a credential."""
    return sorted(set(_secret_env_names(settings)))


def _secret_env_names(value: Any) -> Iterator[str]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            field = getattr(value, name)
            if name.endswith(SECRET_ENV_SUFFIXES) and isinstance(field, str) and field:
                yield field
            elif name.endswith(SECRET_ENV_SUFFIXES) and isinstance(field, Mapping):
                yield from (str(item) for item in field.values() if item)
            else:
                yield from _secret_env_names(field)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_env_names(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_env_names(item)


def install_redaction(
    secrets: Secrets, settings: Settings | None = None, *, environ: Mapping[str, str] | None = None
) -> None:
    """Register every secret the bot knows, so no output of this process carries one."""
    source = os.environ if environ is None else environ
    SECRETS.register(secrets.values())
    if settings is not None:
        SECRETS.register(source.get(name) for name in secret_env_names(settings))
