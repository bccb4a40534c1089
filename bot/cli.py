"""`hotfix-bot`: serve, console, check-config, migrate, and every chat command.

`hotfix-bot audit --limit 5` runs the same command as `/hotfix audit --limit 5`
in Slack: the chat command tree is mounted here (bot/cli_chat.py), so help texts exist
once. Serving is bot/serve.py; what the subcommands share is bot/cli_context.py.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from bot.cli_chat import BotCli
from bot.cli_context import (
    EXIT_CONFIG,
    actor_of,
    config_of,
    deps_of,
    fail,
    no_bot_serves,
    router_of,
    warn_about_runtime_problems,
)
from bot.config import ConfigError, check_config_file, resolve_config_path
from bot.secrets import load_secrets
from services.errors import UserFacingError


@click.group(cls=BotCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $HOTFIX_CONFIG, then ./hotfix.yml, then the shipped example).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="HOTFIX_LOG_FORMAT",
    default="text",
    show_default=True,
    help="json: one JSON object per line, with incident and deployment ids.",
)
@click.option(
    "--user",
    metavar="NAME",
    help="Run one chat command as this person (default: your login); also after the command.",
)
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, verbose: bool, log_format: str, user: str | None
) -> None:
    """hotfix-bot: incident response and hotfix deploys from Slack."""
    from bot.logs import setup

    setup(
        verbose=verbose, json_lines=log_format == "json", quiet=ctx.invoked_subcommand == "console"
    )
    ctx.obj = {"config_path": config_path, "user": user}


@main.command()
@click.option("--http", "mode", flag_value="http", help="Receive Slack's requests over HTTP.")
@click.option("--socket", "mode", flag_value="socket", help="Connect to Slack in Socket Mode.")
@click.option("--host", help="HTTP mode: address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), help="HTTP mode: port (0 picks a free one).")
@click.pass_obj
def serve(obj: dict[str, Any], mode: str | None, host: str | None, port: int | None) -> None:
    """Run the bot: Socket Mode by default, HTTP with --http; console mode without tokens."""
    from bot.serve import serve_bot

    serve_bot(
        obj,
        mode=mode,
        host=host,
        port=port,
        console=lambda: _run_console(obj, user=None, channel=None),
    )


@main.command()
@click.option("--user", help="Who you are in the audit log (default: your login).")
@click.option("--channel", help="Start in this war room: #inc-4-…, INC-4, or a channel id.")
@click.pass_obj
def console(obj: dict[str, Any], user: str | None, channel: str | None) -> None:
    """Run the commands in this terminal, against the same store, with no Slack."""
    warn_about_runtime_problems(config_of(obj))
    _run_console(obj, user=user, channel=channel)


def _run_console(obj: dict[str, Any], *, user: str | None, channel: str | None) -> None:
    from bot.console import Console

    loaded = config_of(obj)
    if loaded.is_example:
        click.echo(f"Using the example configuration {loaded.path}.", err=True)
    deps = deps_of(obj)
    from bot.scheduler import ReminderScheduler

    # Reminders, expiries and the outbox belong to the serving bot when there is one; the
    # console ticks only while none serves this database (it never takes the lock, so a
    # bot can start at any time).
    # With a Lease (a cluster), the console runs in the bot's own pod: the bot serves.
    nobody_serves = no_bot_serves(deps.settings)
    if not nobody_serves():
        click.echo(
            "A hotfix-bot serves this database: it sends the reminders; this console runs"
            " commands only.",
            err=True,
        )
    scheduler = ReminderScheduler(deps, should_tick=nobody_serves, finish_war_rooms=False)
    scheduler.start()
    shell = Console(deps, router_of(deps), actor=actor_of(user or obj.get("user")))
    lines: Iterable[str] = sys.stdin
    if channel and channel.startswith(("#", "INC-", "inc-")):
        # A war room as shown (#inc-4-…) or its incident (INC-4): entered as if typed first.
        lines = itertools.chain([f"join {channel}"], sys.stdin)
    elif channel:
        shell.channel_id = channel  # a channel id, as given
    try:
        shell.loop(lines, interactive=sys.stdin.isatty())
    finally:
        scheduler.shutdown()


@main.command("check-config")
@click.pass_obj
def checkconfig_of(obj: dict[str, Any]) -> None:
    """Validate the configuration and templates and print a report."""
    from handlers.core.rendering import Renderer
    from services.store import Store
    from services.store.migrations import current_version, pending

    path, is_example = resolve_config_path(obj.get("config_path"))
    found, problems = check_config_file(path, is_example=is_example)
    if problems:
        click.echo(ConfigError(path, problems).report(), err=True)
    if found is None:
        sys.exit(EXIT_CONFIG)
    obj["config"] = loaded = found
    settings = loaded.settings
    secrets = load_secrets()
    state = (
        f"valid, but {len(problems)} problem(s) on this machine (above)" if problems else "valid"
    )
    lines = [f"{loaded.path}: {state}"]
    store = Store(settings.store.path)
    try:
        waiting = pending(store)
        state = "up to date" if not waiting else f"{len(waiting)} migration(s) pending"
        lines.append(f"  store: {settings.store.path} (schema {current_version(store)}, {state})")
    except UserFacingError as exc:
        lines.append(f"  store: {exc.message}")
    finally:
        store.close()
    lines.append(f"  slack: {settings.slack.mode} mode, command {settings.slack.command}")
    for name, value in (
        ("SLACK_BOT_TOKEN", secrets.bot_token),
        ("SLACK_APP_TOKEN", secrets.app_token),
        ("SLACK_SIGNING_SECRET", secrets.signing_secret),
    ):
        lines.append(f"  {name}: {'set' if value else 'not set'}")
    renderer = Renderer(override_dir=settings.templates_dir, zone=settings.zone)
    broken = renderer.check()
    source = f" (overrides from {settings.templates_dir})" if settings.templates_dir else ""
    lines.append(f"  templates: {'OK' if not broken else f'{len(broken)} broken'}{source}")
    lines += [f"    {problem}" for problem in broken]
    click.echo("\n".join(lines))
    if problems or broken:
        sys.exit(EXIT_CONFIG)


@main.command()
@click.pass_obj
def migrate(obj: dict[str, Any]) -> None:
    """Apply pending store migrations (serve and console also do this on start)."""
    from services.clock import SystemClock
    from services.store import Store
    from services.store.migrations import current_version
    from services.store.migrations import migrate as apply

    settings = config_of(obj).settings
    store = Store(settings.store.path)
    try:
        applied = apply(store, clock=SystemClock())
        for migration in applied:
            click.echo(f"applied {migration.version}: {migration.name}")
        click.echo(f"{settings.store.path}: schema version {current_version(store)}")
    except UserFacingError as exc:
        fail(f"{exc.message}\n{exc.hint or ''}".strip())
    finally:
        store.close()


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(obj: dict[str, Any], destination: Path) -> None:
    """Take a consistent online backup of the database (safe while the bot runs)."""
    import sqlite3

    source_path = config_of(obj).settings.store.path
    if destination.exists():
        fail(f"{destination} exists; choose a new file name (nothing was written).")
    destination.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(destination)
    try:
        # SQLite's online backup API copies a consistent snapshot, even during writes.
        source.backup(target)
    finally:
        target.close()
        source.close()
    click.echo(f"backed up {source_path} to {destination}")


__all__ = ["main"]
