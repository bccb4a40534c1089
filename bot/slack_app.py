"""The Bolt app: one WebClient pointed at Slack (or SLACK_API_URL), our listeners on it."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.secrets import SLACK_API_URL_ENV, Secrets
from bot.wiring import ChatFactory
from handlers.core.context import Deps
from handlers.core.router import Router
from handlers.slack import register_listeners
from handlers.slack.gateway import SlackChat
from handlers.slack.retry import RetryAfterHandler
from services.clock import Clock, SystemClock
from services.settings import Settings

log = logging.getLogger(__name__)


def slack_api_url(settings: Settings) -> str:
    url = os.environ.get(SLACK_API_URL_ENV) or settings.slack.api_url or WebClient.BASE_URL
    return url if url.endswith("/") else url + "/"


def build_web_client(
    settings: Settings, secrets: Secrets, *, clock: Clock | None = None
) -> WebClient:
    """`clock`: what a rate-limited call waits on (its Retry-After), the system clock by default."""
    return WebClient(
        token=secrets.bot_token,
        base_url=slack_api_url(settings),
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            # A 429 waits as long as Slack says, as often as needed (handlers/slack/retry.py).
            RetryAfterHandler(sleep=(clock or SystemClock()).sleep),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def slack_chat(client: WebClient) -> ChatFactory:
    """Deps' chat platform: the same WebClient as the Bolt app's."""
    return lambda renderer, store, clock: SlackChat(client, renderer, store=store, clock=clock)


def build_slack_app(deps: Deps, router: Router, secrets: Secrets, *, client: WebClient) -> App:
    app = App(
        client=client,
        signing_secret=secrets.signing_secret,
        # Every listener acks first and hands anything slow to our worker, so Bolt can
        # run it on the request thread and answer as soon as it returns, instead of
        # polling for the ack from its own pool every 10 ms (bench/ack_latency.py).
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a Slack listener: %s", error, exc_info=error)

    register_listeners(app, deps=deps, router=router)
    return app


def recover_after_crash(deps: Deps, router: Router, client: WebClient) -> Future[None]:
    """On start, on the worker: finish what a crash interrupted (war rooms, journaled work)."""
    from handlers.slack import recovery
    from handlers.slack.actions import click_replayer
    from handlers.slack.commands import command_replayer
    from handlers.slack.views import form_replayer

    replayers = {
        recovery.COMMAND: command_replayer(deps, router),
        recovery.FORM: form_replayer(deps, router.forms, client),
        recovery.CLICK: click_replayer(deps, router.buttons, client),
    }
    return deps.worker.submit(
        lambda: recovery.recover_after_crash(deps, replayers), describe="recovery after restart"
    )
