"""What every `hotfix-bot` subcommand shares: the configuration, the bot's parts, the
router, who runs the command, and failing with an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from bot.config import (
    ConfigError,
    LoadedConfig,
    load_config,
    resolve_config_path,
    runtime_problems,
)
from bot.secrets import install_redaction, load_secrets
from handlers.core.context import Deps
from handlers.core.router import Router
from services.errors import UserFacingError
from services.settings import Settings

log = logging.getLogger("hotfix_bot")
EXIT_CONFIG = 2
EXIT_LOST_LOCK = 4
EXIT_TOKEN_REFUSED = 5  # Slack refused SLACK_BOT_TOKEN or SLACK_APP_TOKEN (see bot/startup.py)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def warn_about_runtime_problems(loaded: LoadedConfig) -> None:
    """Start, but say what will fail: the same report as check-config, as a warning.

    Not a refusal: a missing deploy script or repository stops only the deploys that
    need it (they refuse with the same words), while refusing to start would take the
    incident side too (declare, war rooms, reminders), at the moment it is needed.
    """
    problems = runtime_problems(loaded)
    if problems:
        report = ConfigError(loaded.path, problems).report()
        click.echo(
            f"warning: {report}\n(the bot starts; deploys that need these will fail."
            " `hotfix-bot check-config` shows this again.)",
            err=True,
        )


def config_of(obj: dict[str, Any]) -> LoadedConfig:
    if "config" not in obj:
        path, is_example = resolve_config_path(obj.get("config_path"))
        try:
            obj["config"] = load_config(path, is_example=is_example)
        except ConfigError as exc:
            fail(exc.report())
    loaded: LoadedConfig = obj["config"]
    return loaded


def deps_of(obj: dict[str, Any], *, chat: Any = None) -> Deps:
    if "deps" not in obj:
        from bot.wiring import build_deps

        # Commands run from here (the console) capture child output too: redact it.
        install_redaction(load_secrets(), config_of(obj).settings)
        try:
            settings = config_of(obj).settings
            obj["deps"] = build_deps(
                settings, chat=chat, delivers=None if chat else no_bot_serves(settings)
            )
        except UserFacingError as exc:
            fail(f"{exc.message}\n{exc.hint or ''}".strip())
    deps: Deps = obj["deps"]
    return deps


def no_bot_serves(settings: Settings) -> Callable[[], bool]:
    """A terminal (console, CLI) delivers outside Slack only while no bot serves its
    database; with a Lease (a cluster) the bot in its pod always does."""
    from bot.instance_lock import InstanceLock

    lock = InstanceLock(settings.store.path)
    return lambda: settings.lock.kind == "file" and not lock.held_elsewhere()


def router_of(deps: Deps) -> Router:
    from bot.wiring import build_router

    return build_router(deps.settings)


def actor_of(name: str | None) -> str:
    from bot.console import console_actor
    from handlers.console.chat import CONSOLE_NAME

    if name is not None and not CONSOLE_NAME.fullmatch(name.removeprefix("@")):
        fail(f"{name[:80]!r} is not a user name (letters, digits, . _ -).")
    return console_actor(name.removeprefix("@") if name else None)
