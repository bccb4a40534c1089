"""What `check-config` (and the start-up warning) finds wrong with the integrations outside
Slack before the first incident does: credentials missing from the environment, a relay the
bot cannot speak to safely. Each finding names its settings path, for the file's line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from services.comms.email.settings import EmailSettings
from services.comms.pagerduty.settings import PagerDutySettings
from services.comms.statuspage.integration import missing_key
from services.settings import Settings

Loc = tuple[str | int, ...]
IMPLICIT_TLS_PORT = 465


def comms_findings(settings: Settings, environ: Mapping[str, str]) -> list[tuple[Loc, str]]:
    findings: list[tuple[Loc, str]] = []
    if settings.statuspage is not None:
        missing = missing_key(settings.statuspage, environ)
        if missing:
            findings.append(
                (
                    ("statuspage", "api_key_env"),
                    f"{missing} is not set: the status page would refuse every update"
                    " (set it to the page's API key in the bot's environment)",
                )
            )
    if settings.paging.pagerduty is not None:
        findings += _pagerduty(settings.paging.pagerduty, environ)
    if settings.email is not None:
        findings += _email(settings.email, environ)
    return findings


def _unset(name: str, environ: Mapping[str, str]) -> bool:
    return not environ.get(name, "").strip()


def _pagerduty(settings: PagerDutySettings, environ: Mapping[str, str]) -> list[tuple[Loc, str]]:
    at: Loc = ("paging", "pagerduty")
    findings: list[tuple[Loc, str]] = []
    if _unset(settings.routing_key_env, environ):
        findings.append(
            (
                (*at, "routing_key_env"),
                f"{settings.routing_key_env} is not set: declarations would page nobody (set"
                " it to the integration key of a PagerDuty Events API v2 integration)",
            )
        )
    named = [("service_routing_key_env", settings.service_routing_key_env)]
    named.append(("people_routing_key_env", settings.people_routing_key_env))
    for field, mapping in named:
        for who, variable in mapping.items():
            if _unset(variable, environ):
                findings.append(
                    ((*at, field, who), f"{variable} is not set: paging {who} would fail")
                )
    return findings


def _email(settings: EmailSettings, environ: Mapping[str, str]) -> list[tuple[Loc, str]]:
    findings: list[tuple[Loc, str]] = []
    user = not _unset(settings.username_env, environ)
    password = not _unset(settings.password_env, environ)
    if user != password:
        given, missing = (
            (settings.username_env, settings.password_env)
            if user
            else (settings.password_env, settings.username_env)
        )
        findings.append(
            (
                ("email", "password_env" if user else "username_env"),
                f"{given} is set but {missing} is not: the bot logs in only with both",
            )
        )
    if user and password and not settings.starttls:
        findings.append(
            (
                ("email", "starttls"),
                "starttls is off while a login is configured: the password would cross the"
                " network in clear (turn starttls on, or drop the login)",
            )
        )
    if settings.smtp_port == IMPLICIT_TLS_PORT:
        findings.append(
            (
                ("email", "smtp_port"),
                "port 465 expects TLS from the first byte, which the bot does not speak: use"
                " the submission port 587 with starttls",
            )
        )
    if settings.ca_file is not None and not Path(settings.ca_file).is_file():
        findings.append((("email", "ca_file"), f"{settings.ca_file} is not a file"))
    return findings
