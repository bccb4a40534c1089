"""Endpoints for whoever runs the bot: /healthz, /readyz and /metrics.

In HTTP mode they share the server with /slack/events; in Socket Mode a small
server of their own listens on `slack.health_port`, so Kubernetes probes work
in both modes (and, in Socket Mode, the CI webhooks are served there too).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_sdk import WebClient

from handlers.core.context import Deps
from services.metrics import REGISTRY

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
SLACK_CHECK_TTL = 30.0  # seconds an auth.test answer is trusted, so probes don't hammer Slack


class Readiness:
    def __init__(
        self, deps: Deps, client: WebClient | None, scheduler_running: Callable[[], bool]
    ) -> None:
        self.deps = deps
        self.client = client
        self.scheduler_running = scheduler_running
        self._slack_ok: tuple[float, bool, str] | None = None
        self._lock = threading.Lock()

    def _slack(self) -> tuple[bool, str]:
        if self.client is None:
            return True, "console"
        with self._lock:
            cached = self._slack_ok
            if cached and time.monotonic() - cached[0] < SLACK_CHECK_TTL:
                return cached[1], cached[2]
            try:
                self.client.auth_test()
                result = (True, "ok")
            except Exception as exc:  # any failure means "not ready", with the reason
                result = (False, type(exc).__name__)
            self._slack_ok = (time.monotonic(), *result)
            return result

    def checks(self) -> dict[str, tuple[bool, str]]:
        try:
            self.deps.store.query_one("SELECT 1")
            store = (True, "ok")
        except Exception as exc:
            store = (False, type(exc).__name__)
        running = self.scheduler_running()
        return {
            "store": store,
            "slack": self._slack(),
            "scheduler": (running, "ok" if running else "stopped"),
        }


def operations_app(
    readiness: Readiness,
    *,
    webhooks: Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]] | None = None,
) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """`webhooks`: Socket Mode's CI webhooks (bot/webhooks.py), which have no other server."""

    def handle(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if webhooks is not None and path.startswith("/webhooks/"):
            return webhooks(environ, start_response)
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            checks = readiness.checks()
            ready = all(ok for ok, _ in checks.values())
            body = {
                "status": "ready" if ready else "not ready",
                "checks": {k: v for k, (_, v) in checks.items()},
            }
            return _json(start_response, "200 OK" if ready else "503 Service Unavailable", body)
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest(REGISTRY)]
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return handle


OPERATION_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
