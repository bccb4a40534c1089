"""`hotfix-bot`: serve, console, check-config, migrate, and every chat command.

`hotfix-bot audit --limit 5` runs the same command as `/hotfix audit --limit 5`
in Slack: the chat command tree is mounted here, so help texts exist once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from bot.config import (
    ConfigError,
    LoadedConfig,
    check_config_file,
    load_config,
    resolve_config_path,
    runtime_problems,
)
from bot.secrets import Secrets, install_redaction, load_secrets
from handlers.console.text import plain
from handlers.core.context import Deps
from handlers.features import build_registry
from services.errors import UserFacingError
from services.settings import Settings

log = logging.getLogger("hotfix_bot")
EXIT_CONFIG = 2
EXIT_LOST_LOCK = 4
EXIT_TOKEN_REFUSED = 5  # Slack refused SLACK_BOT_TOKEN or SLACK_APP_TOKEN (see bot/startup.py)


@functools.cache
def _chat_commands() -> Mapping[str, click.Command]:
    """The chat command tree's top level, mounted under `hotfix-bot`."""
    return build_registry().root.commands


class BotCli(click.Group):
    """Our own subcommands, then the chat commands as a fallback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in sorted(_chat_commands()) if name not in own]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _chat_commands():
            return command
        return _chat_passthrough(cmd_name, _chat_commands()[cmd_name])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # A typo gets what the console answers (did you mean, the list), not "No such command".
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from handlers.core.router import unknown_command

            message = unknown_command(name, self.list_commands(ctx), where=ctx.command_path)
            _fail(f"{plain(message)}\nRun {ctx.command_path} --help for what each does.")
        return super().resolve_command(ctx, args)


def _chat_passthrough(name: str, chat: click.Command) -> click.Command:
    @click.command(
        name,
        help=chat.help,
        short_help=chat.get_short_help_str(limit=60),
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_obj
    def run(obj: dict[str, Any], args: tuple[str, ...]) -> None:
        from bot.console import run_cli_reply
        from bot.follow import after_request, followed_kind, split_no_wait

        words, user = _take_user([name, *args], chat)
        actor = _actor(user or obj.get("user"))
        # A deployment or rollback request follows its progress here (see bot/follow.py).
        asked = followed_kind(name, tuple(words[1:]))
        wait = True
        if asked is not None:
            kept, wait = split_no_wait(tuple(words[1:]))
            words = [name, *kept]
        deps = _deps(obj)
        router = _router(deps)
        code, text, reply = run_cli_reply(deps, router, words, actor=actor)
        click.echo(text)
        if asked is not None and code == 0:
            code = after_request(deps, reply, asked=asked, wait=wait, echo=click.echo)
        sys.exit(code)

    return run


def _take_user(words: list[str], chat: click.Command) -> tuple[list[str], str | None]:
    """`hotfix-bot note "…" --user bob`: run as bob, unless the command has a --user of its own."""
    command, rest = chat, words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    if any("--user" in param.opts for param in command.params):
        return words, None  # e.g. audit --user: its filter, not who runs it
    user, kept, given = None, [], iter(words)
    for word in given:
        if word == "--user":
            user = next(given, "")
        elif word.startswith("--user="):
            user = word.removeprefix("--user=")
        else:
            kept.append(word)
    return kept, user


def _actor(name: str | None) -> str:
    from bot.console import console_actor
    from handlers.console.chat import CONSOLE_NAME

    if name is not None and not CONSOLE_NAME.fullmatch(name.removeprefix("@")):
        _fail(f"{name[:80]!r} is not a user name (letters, digits, . _ -).")
    return console_actor(name.removeprefix("@") if name else None)


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


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _warn_about_runtime_problems(loaded: LoadedConfig) -> None:
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


def _config(obj: dict[str, Any]) -> LoadedConfig:
    if "config" not in obj:
        path, is_example = resolve_config_path(obj.get("config_path"))
        try:
            obj["config"] = load_config(path, is_example=is_example)
        except ConfigError as exc:
            _fail(exc.report())
    loaded: LoadedConfig = obj["config"]
    return loaded


def _deps(obj: dict[str, Any], *, chat: Any = None) -> Deps:
    if "deps" not in obj:
        from bot.wiring import build_deps

        # Commands run from here (the console) capture child output too: redact it.
        install_redaction(load_secrets(), _config(obj).settings)
        try:
            settings = _config(obj).settings
            obj["deps"] = build_deps(
                settings, chat=chat, delivers=None if chat else _no_bot_serves(settings)
            )
        except UserFacingError as exc:
            _fail(f"{exc.message}\n{exc.hint or ''}".strip())
    deps: Deps = obj["deps"]
    return deps


def _no_bot_serves(settings: Any) -> Any:
    """A terminal (console, CLI) delivers outside Slack only while no bot serves its
    database; with a Lease (a cluster) the bot in its pod always does."""
    from bot.instance_lock import InstanceLock

    lock = InstanceLock(settings.store.path)
    return lambda: settings.lock.kind == "file" and not lock.held_elsewhere()


def _router(deps: Deps) -> Any:
    from bot.wiring import build_router

    return build_router(deps.settings)


@main.command()
@click.option("--http", "mode", flag_value="http", help="Receive Slack's requests over HTTP.")
@click.option("--socket", "mode", flag_value="socket", help="Connect to Slack in Socket Mode.")
@click.option("--host", help="HTTP mode: address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), help="HTTP mode: port (0 picks a free one).")
@click.pass_obj
def serve(obj: dict[str, Any], mode: str | None, host: str | None, port: int | None) -> None:
    """Run the bot: Socket Mode by default, HTTP with --http; console mode without tokens."""
    loaded = _config(obj)
    _warn_about_runtime_problems(loaded)
    settings = loaded.settings
    secrets = load_secrets()
    install_redaction(secrets, settings)
    mode = mode or settings.slack.mode
    if mode == "socket" and not (secrets.bot_token or secrets.app_token):
        click.echo(
            "No SLACK_BOT_TOKEN or SLACK_APP_TOKEN in the environment or .env: starting the"
            " console mode instead (see README: 'Create the Slack app').",
            err=True,
        )
        _run_console(obj, user=None, channel=None)
        return
    _require_secrets(secrets, mode)
    obj["instance_lock"] = _hold_instance_lock(settings)
    from bot.slack_app import build_slack_app, build_web_client, recover_after_crash, slack_chat
    from bot.startup import TokenRefusedError, call_slack_at_start, check_token

    client = build_web_client(settings, secrets)
    try:
        check_token("SLACK_BOT_TOKEN", secrets.bot_token or "")
        if mode == "socket":
            check_token("SLACK_APP_TOKEN", secrets.app_token or "")
    except TokenRefusedError as exc:
        _fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
    deps = _deps(obj, chat=slack_chat(client))
    router = _router(deps)
    try:  # Bolt checks the bot token with auth.test as it builds the app
        app = call_slack_at_start(
            lambda: build_slack_app(deps, router, secrets, client=client),
            variable="SLACK_BOT_TOKEN",
            describe="auth.test",
        )
    except TokenRefusedError as exc:
        _fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
    from bot.operations import Readiness, operations_app
    from bot.scheduler import ReminderScheduler
    from services.deploy.engine import recover_after_restart

    interrupted = recover_after_restart(deps.deploy)
    if interrupted:
        log.warning("deployments found in flight after a restart, now interrupted: %s", interrupted)
    recovered = recover_after_crash(deps, router, client)
    scheduler = ReminderScheduler(deps)
    # Ticks wait for the recovery: a reminder a crash swallowed must be found (and posted)
    # before a tick could post the same reminder, and /readyz says so meanwhile.
    recovered.add_done_callback(lambda _: scheduler.start())
    operations = operations_app(Readiness(deps, client, lambda: scheduler.running))
    from bot.http_server import EVENTS_PATH, HttpServer, build_wsgi_app

    listen_host = host or settings.slack.http_host
    if mode == "http":
        server = HttpServer(
            build_wsgi_app(app, deps, operations=operations),
            host=listen_host,
            port=settings.slack.http_port if port is None else port,
        )
        click.echo(f"listening on http://{listen_host}:{server.port}{EVENTS_PATH}")
        server.serve_forever()
    else:
        if settings.slack.health_port:
            health = HttpServer(
                operations, host=listen_host, port=settings.slack.health_port, threads=2
            )
            health.start()
            log.info("health endpoints on http://%s:%s/healthz", listen_host, health.port)
        _serve_socket_mode(app, secrets, client)


def _serve_socket_mode(app: Any, secrets: Secrets, client: Any) -> None:
    """Connect (waiting for Slack if it is away) and serve until the process is stopped."""
    import threading

    from bot.socket_mode import SocketModeClient, SocketModeHandler
    from bot.startup import TokenRefusedError, call_slack_at_start

    assert secrets.app_token is not None
    handler = SocketModeHandler(
        app, SocketModeClient(secrets.app_token, web_client=client, logger=log)
    )
    log.info("connecting to Slack in Socket Mode")
    try:
        call_slack_at_start(
            handler.connect, variable="SLACK_APP_TOKEN", describe="apps.connections.open"
        )
    except TokenRefusedError as exc:
        _fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
    log.info("connected to Slack in Socket Mode")
    threading.Event().wait()


def _hold_instance_lock(settings: Settings) -> Any:
    """Exit with a clear message when another bot already serves this database (code 3).

    The caller keeps the returned lock for the life of the process: dropping it
    would close the file and release the lock. A bot that loses its Kubernetes Lease
    while serving exits at once (code 4): better no bot for a moment than two.
    """
    import os

    from bot.instance_lock import AlreadyRunningError, hold_instance_lock
    from bot.wiring import default_clock

    def lost(message: str) -> None:
        click.echo(message, err=True)
        sys.stderr.flush()
        os._exit(EXIT_LOST_LOCK)  # from the renewal thread: no cleanup, the Lease is not ours

    try:
        return hold_instance_lock(settings, clock=default_clock(), on_lost=lost)
    except AlreadyRunningError as exc:
        _fail(str(exc), code=3)
    except UserFacingError as exc:  # the cluster could not be asked (config, RBAC, network)
        _fail(f"{exc.message}\n{exc.hint or ''}".strip(), code=1)


def _require_secrets(secrets: Secrets, mode: str) -> None:
    needed = {"SLACK_BOT_TOKEN": secrets.bot_token}
    if mode == "http":
        needed["SLACK_SIGNING_SECRET"] = secrets.signing_secret
    else:
        needed["SLACK_APP_TOKEN"] = secrets.app_token
    missing = [name for name, value in needed.items() if not value]
    if missing:
        _fail(
            f"{mode} mode needs {' and '.join(missing)} in the environment or .env"
            " (see README: 'Create the Slack app')."
        )


@main.command()
@click.option("--user", help="Who you are in the audit log (default: your login).")
@click.option("--channel", help="Start in this war room: #inc-4-…, INC-4, or a channel id.")
@click.pass_obj
def console(obj: dict[str, Any], user: str | None, channel: str | None) -> None:
    """Run the commands in this terminal, against the same store, with no Slack."""
    _warn_about_runtime_problems(_config(obj))
    _run_console(obj, user=user, channel=channel)


def _run_console(obj: dict[str, Any], *, user: str | None, channel: str | None) -> None:
    from bot.console import Console

    loaded = _config(obj)
    if loaded.is_example:
        click.echo(f"Using the example configuration {loaded.path}.", err=True)
    deps = _deps(obj)
    from bot.instance_lock import InstanceLock
    from bot.scheduler import ReminderScheduler

    # Reminders, expiries and the outbox belong to the serving bot when there is one; the
    # console ticks only while none serves this database (it never takes the lock, so a
    # bot can start at any time).
    lock = InstanceLock(deps.settings.store.path)

    def no_bot_serves() -> bool:
        # With a Lease (a cluster), the console runs in the bot's own pod: the bot serves.
        return deps.settings.lock.kind == "file" and not lock.held_elsewhere()

    if not no_bot_serves():
        click.echo(
            "A hotfix-bot serves this database: it sends the reminders; this console runs"
            " commands only.",
            err=True,
        )
    scheduler = ReminderScheduler(deps, should_tick=no_bot_serves, finish_war_rooms=False)
    scheduler.start()
    shell = Console(deps, _router(deps), actor=_actor(user or obj.get("user")))
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
def check_config(obj: dict[str, Any]) -> None:
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

    settings = _config(obj).settings
    store = Store(settings.store.path)
    try:
        applied = apply(store, clock=SystemClock())
        for migration in applied:
            click.echo(f"applied {migration.version}: {migration.name}")
        click.echo(f"{settings.store.path}: schema version {current_version(store)}")
    except UserFacingError as exc:
        _fail(f"{exc.message}\n{exc.hint or ''}".strip())
    finally:
        store.close()


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(obj: dict[str, Any], destination: Path) -> None:
    """Take a consistent online backup of the database (safe while the bot runs)."""
    import sqlite3

    source_path = _config(obj).settings.store.path
    if destination.exists():
        _fail(f"{destination} exists; choose a new file name (nothing was written).")
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
