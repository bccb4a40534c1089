"""HTTP mode: Slack's requests arrive at /slack/events, signatures verified by Bolt.

Bolt's WSGI adapter runs under waitress (a production WSGI server with a
thread pool); waitress answers 413 to a body over MAX_BODY_BYTES before it is
read. A thin WSGI layer in front adds /healthz, the CI webhooks (bot/webhooks.py), answers 401 to a timestamp that
is not a number (Bolt would crash on it), and audits requests whose signature
did not verify.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore
from waitress.server import create_server

from bot.operations import OPERATION_PATHS
from bot.webhooks import WEBHOOK_PATHS, webhooks_app
from handlers.core.context import Deps
from services.audit import AuditEntry, Outcome, record
from services.metrics import ACK_SECONDS

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
# Slack documents no maximum for what it sends to a request URL. Our own surfaces are
# small: a slash command's text is at most a few KB, and a click or form carries at most
# one of our messages or modals (Block Kit caps them at 50/100 blocks of <= 3,000
# characters). 1 MiB is several times the largest of those, form-encoded; a bigger body
# is not from Slack for this app and is refused before it is read or parsed.
MAX_BODY_BYTES = 1024 * 1024
# Slack's X-Slack-Request-Timestamp is whole Unix seconds.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

WsgiApp = Callable[["WSGIEnvironment", "StartResponse"], Iterable[bytes]]


def build_wsgi_app(app: App, deps: Deps, *, operations: WsgiApp | None = None) -> WsgiApp:
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    webhooks = webhooks_app(deps)

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in OPERATION_PATHS and operations is not None:
            return operations(environ, start_response)
        if path in WEBHOOK_PATHS:  # CI status (README "CI status"): verified there
            return webhooks(environ, start_response)
        started = time.perf_counter()
        try:
            return _slack(environ, start_response, path)
        finally:
            if path == EVENTS_PATH:
                ACK_SECONDS.observe(time.perf_counter() - started)

    def _slack(
        environ: WSGIEnvironment, start_response: StartResponse, path: str
    ) -> Iterable[bytes]:
        if path == EVENTS_PATH:
            refused = _refuse_bad_timestamp(deps, environ, start_response)
            if refused is not None:
                return refused
        status_seen: list[str] = []

        def spy(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            result = slack(environ, spy)
        except Exception:
            # Bolt cannot even parse it (truncated JSON, a payload that is not an object):
            # answer 400, never a 500 with a traceback.
            log.warning("malformed request to %s rejected", path, exc_info=True)
            body = json.dumps({"error": "malformed request"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [body]
        if path == EVENTS_PATH and status_seen and status_seen[0].startswith("401"):
            _audit_forged(deps, environ)
        return result

    return wsgi


def _refuse_bad_timestamp(
    deps: Deps, environ: WSGIEnvironment, start_response: StartResponse
) -> list[bytes] | None:
    """401 for a timestamp Slack would never send (Bolt's verifier crashes on it); else None."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    if timestamp is not None and not _TIMESTAMP.fullmatch(timestamp):
        _audit_forged(deps, environ, why="its timestamp is not a number of seconds")
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [json.dumps({"error": "invalid request"}).encode()]
    return None


def _audit_forged(
    deps: Deps, environ: WSGIEnvironment, *, why: str = "signature or timestamp did not verify"
) -> None:
    record(
        deps.store,
        clock=deps.clock,
        entry=AuditEntry(
            actor=environ.get("REMOTE_ADDR", "unknown"),
            source="http",
            action="request",
            outcome=Outcome.FORGED,
            detail=f"{why}; request rejected with 401",
        ),
    )


class HttpServer:
    """A waitress server; `serve_forever` for the bot, `start`/`stop` for tests."""

    def __init__(self, wsgi: WsgiApp, *, host: str, port: int, threads: int = 8) -> None:
        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            ident="hotfix-bot",
            # waitress answers 413 on a Content-Length over this before reading the body,
            # and counts the bytes of a chunked one as they arrive.
            max_request_body_size=MAX_BODY_BYTES,
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> None:
        """Serve on a background thread until `stop()`."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve_until_stopped, name="http", daemon=True)
        self._thread.start()

    def _serve_until_stopped(self) -> None:
        # Closing waitress's sockets from another thread races its select() loop, so
        # the loop runs in short rounds here and the same thread closes the server.
        server = self._server
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.1, map=server._map, use_poll=True, count=1)  # type: ignore[union-attr]
        server.close()
        server.task_dispatcher.shutdown()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
