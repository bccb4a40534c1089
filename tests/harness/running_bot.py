"""A real hotfix-bot in HTTP mode on a localhost port, wired to the Slack emulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.http_server import EVENTS_PATH, HttpServer, build_wsgi_app
from bot.operations import Readiness, operations_app
from bot.secrets import Secrets
from bot.slack_app import build_slack_app, build_web_client, slack_chat
from bot.wiring import build_deps, build_router, close_deps
from handlers.core.context import Deps
from handlers.core.router import Router
from services.clock import Clock
from services.settings import Settings
from tests.harness.slack_driver import SlackDriver
from tests.harness.slack_emulator import SlackEmulator

SIGNING_SECRET = "test-signing-secret-8f2a"
MANIFEST = Path(__file__).resolve().parent.parent.parent / "manifest.yml"


def manifest_scopes() -> set[str]:
    manifest = yaml.safe_load(MANIFEST.read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class RunningBot:
    deps: Deps
    router: Router
    server: HttpServer
    driver: SlackDriver
    slack: SlackEmulator

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{EVENTS_PATH}"

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot's worker has finished everything it was given."""
        assert self.deps.worker.drain(timeout), "the bot's worker did not finish in time"

    def audit(self) -> list[dict[str, Any]]:
        return self.deps.store.query("SELECT * FROM audit ORDER BY id")

    def stop(self) -> None:
        self.server.stop()
        close_deps(self.deps)


def start_bot(
    *,
    slack: SlackEmulator,
    store_path: Path,
    clock: Clock,
    router: Router | None = None,
    extra_settings: dict[str, Any] | None = None,
) -> RunningBot:
    extra = dict(extra_settings or {})
    settings = Settings.model_validate(
        {
            "store": {"path": str(store_path)},
            **extra,
            "slack": {"api_url": slack.api_url, "mode": "http", **extra.get("slack", {})},
        }
    )
    secrets = Secrets(bot_token=slack.bot_token, app_token=None, signing_secret=SIGNING_SECRET)
    client = build_web_client(settings, secrets, clock=clock)
    deps = build_deps(settings, clock=clock, chat=slack_chat(client))
    router = router or build_router(settings)
    app = build_slack_app(deps, router, secrets, client=client)
    # The tests drive the scheduler's tick themselves; readiness reports it as running.
    operations = operations_app(Readiness(deps, client, lambda: True))
    server = HttpServer(build_wsgi_app(app, deps, operations=operations), host="127.0.0.1", port=0)
    server.start()
    driver = SlackDriver(
        bot_url=f"http://127.0.0.1:{server.port}{EVENTS_PATH}",
        signing_secret=SIGNING_SECRET,
        emulator=slack,
    )
    return RunningBot(deps=deps, router=router, server=server, driver=driver, slack=slack)
