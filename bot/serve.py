"""`hotfix-bot serve`: hold the instance lock, check the tokens, recover, then serve Slack
over Socket Mode or HTTP (with the health endpoints)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from bot.cli_context import (
    EXIT_LOST_LOCK,
    EXIT_TOKEN_REFUSED,
    config_of,
    deps_of,
    fail,
    log,
    router_of,
    warn_about_runtime_problems,
)
from bot.secrets import Secrets, install_redaction, load_secrets
from services.errors import UserFacingError
from services.settings import Settings


def serve_bot(
    obj: dict[str, Any],
    *,
    mode: str | None,
    host: str | None,
    port: int | None,
    console: Callable[[], None],
) -> None:
    """Serve Slack until the process is stopped; with no tokens at all, run `console`."""
    loaded = config_of(obj)
    warn_about_runtime_problems(loaded)
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
        console()
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
        fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
    deps = deps_of(obj, chat=slack_chat(client))
    router = router_of(deps)
    try:  # Bolt checks the bot token with auth.test as it builds the app
        app = call_slack_at_start(
            lambda: build_slack_app(deps, router, secrets, client=client),
            variable="SLACK_BOT_TOKEN",
            describe="auth.test",
        )
    except TokenRefusedError as exc:
        fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
    from bot.operations import Readiness, operations_app
    from bot.scheduler import ReminderScheduler
    from services.deploy.engine import recover_after_restart

    interrupted = recover_after_restart(deps.deploy)
    if interrupted:
        log.warning("deployments found in flight after a restart, now interrupted: %s", interrupted)
    from services.pipeline import recovery

    stopped = recovery.recover_after_restart(deps.store, clock=deps.clock, chat=deps.chat)
    if stopped:
        log.warning(
            "validate/verify runs found running after a restart, now interrupted: %s", stopped
        )
    recovered = recover_after_crash(deps, router, client)
    scheduler = ReminderScheduler(deps)
    # Ticks wait for the recovery: a reminder a crash swallowed must be found (and posted)
    # before a tick could post the same reminder, and /readyz says so meanwhile.
    recovered.add_done_callback(lambda _: scheduler.start())
    from bot.http_server import EVENTS_PATH, HttpServer, build_wsgi_app
    from bot.webhooks import webhooks_app

    # The CI webhooks: HTTP mode serves them beside /slack/events (build_wsgi_app); Socket
    # Mode has no other server, so GitHub and GitLab post to the operations server.
    operations = operations_app(
        Readiness(deps, client, lambda: scheduler.running),
        webhooks=webhooks_app(deps) if mode != "http" else None,
    )

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
        elif any(s.ci is not None for s in settings.services.values()):
            log.warning(
                "services have ci: but slack.health_port is not set: Socket Mode then has no"
                ' HTTP server for /webhooks/github and /webhooks/gitlab (README "CI status")'
            )
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
        fail(secrets.redact(str(exc)), code=EXIT_TOKEN_REFUSED)
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
        fail(str(exc), code=3)
    except UserFacingError as exc:  # the cluster could not be asked (config, RBAC, network)
        fail(f"{exc.message}\n{exc.hint or ''}".strip(), code=1)


def _require_secrets(secrets: Secrets, mode: str) -> None:
    needed = {"SLACK_BOT_TOKEN": secrets.bot_token}
    if mode == "http":
        needed["SLACK_SIGNING_SECRET"] = secrets.signing_secret
    else:
        needed["SLACK_APP_TOKEN"] = secrets.app_token
    missing = [name for name, value in needed.items() if not value]
    if missing:
        fail(
            f"{mode} mode needs {' and '.join(missing)} in the environment or .env"
            " (see README: 'Create the Slack app')."
        )
