"""/webhooks/github and /webhooks/gitlab: CI runs reported by GitHub and GitLab.

Served by the HTTP mode's server beside /slack/events, and in Socket Mode by the operations
server on `slack.health_port`. Each delivery is verified (GitHub's HMAC signature, GitLab's
token), parsed, kept, and answered at once; the war-room messages that show the run are
edited on the bot's worker, never while GitHub waits (it gives a delivery 10 seconds).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from handlers.core.context import Deps
from services.audit import AuditEntry, Outcome, record
from services.ci import events, inbox, signatures, watches
from services.ci.model import CiRun, Provider

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
GITHUB_PATH = "/webhooks/github"
GITLAB_PATH = "/webhooks/gitlab"
WEBHOOK_PATHS = frozenset({GITHUB_PATH, GITLAB_PATH})
# GitHub caps a payload at 25 MB, but the events read here are tens of KB (a workflow_run
# with its repository twice is ~30 KB); 1 MiB is the HTTP server's own cap as well.
MAX_WEBHOOK_BYTES = 1024 * 1024

WsgiApp = Callable[["WSGIEnvironment", "StartResponse"], Iterable[bytes]]


class _Answer(Exception):
    def __init__(self, status: str, body: Mapping[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def webhooks_app(deps: Deps, *, environ: Mapping[str, str] | None = None) -> WsgiApp:
    """The WSGI app for both paths; `environ` holds the secrets (the process environment)."""
    variables = os.environ if environ is None else environ

    def handle(wsgi: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = _handle(deps, variables, wsgi)
        except _Answer as stop:
            answer = stop
        start_response(answer.status, [("Content-Type", "application/json")])
        return [json.dumps(answer.body).encode()]

    return handle


def _handle(deps: Deps, variables: Mapping[str, str], wsgi: WSGIEnvironment) -> _Answer:
    path = wsgi.get("PATH_INFO", "")
    if path not in WEBHOOK_PATHS:
        raise _Answer("404 Not Found", {"error": "not found"})
    if wsgi.get("REQUEST_METHOD") != "POST":
        raise _Answer("405 Method Not Allowed", {"error": "POST only"})
    body = _read_body(wsgi)
    provider = Provider.GITHUB if path == GITHUB_PATH else Provider.GITLAB
    ci = deps.settings.ci
    if provider is Provider.GITHUB:
        verified = signatures.github_verified(
            variables,
            ci.github_secret_env,
            body=body,
            signature=wsgi.get("HTTP_X_HUB_SIGNATURE_256"),
        )
    else:
        verified = signatures.gitlab_verified(
            variables, ci.gitlab_token_env, token=wsgi.get("HTTP_X_GITLAB_TOKEN")
        )
    sender = str(wsgi.get("REMOTE_ADDR", "unknown"))
    if not verified:
        _audit_forged(deps, provider, sender)
        raise _Answer("401 Unauthorized", {"error": "signature or token did not verify"})
    payload = _json_object(_json_text(body, str(wsgi.get("CONTENT_TYPE", ""))))
    run = _parse(provider, wsgi, payload)
    if run is None:
        return _Answer("200 OK", {"ok": True, "ignored": True})
    received = inbox.receive(
        deps.store, clock=deps.clock, settings=deps.settings, run=run, sender=sender
    )
    if received.service is not None and received.changed:
        deps.worker.submit(
            partial(watches.refresh, deps.store, chat=deps.chat, service=received.service, run=run),
            describe=f"CI status of {received.service}",
            # One edit at a time per service: each renders what is kept now, the last wins.
            one_at_a_time=f"ci-status:{received.service}",
        )
    return _Answer(
        "202 Accepted",
        {"ok": True, "kept": received.changed, "ignored": received.service is None},
    )


def _parse(provider: Provider, wsgi: WSGIEnvironment, payload: Mapping[str, Any]) -> CiRun | None:
    try:
        if provider is Provider.GITHUB:
            event = str(wsgi.get("HTTP_X_GITHUB_EVENT", ""))
            if event == "ping":
                raise _Answer("200 OK", {"ok": True, "pong": True})
            return events.github_run(event, payload)
        return events.gitlab_run(wsgi.get("HTTP_X_GITLAB_EVENT"), payload)
    except events.MalformedPayloadError as exc:
        raise _Answer(
            "400 Bad Request", {"error": f"malformed payload: {exc.message}"[:300]}
        ) from None


def _read_body(wsgi: WSGIEnvironment) -> bytes:
    """The body, refused before it is read when it says it is too big."""
    try:
        length = int(wsgi.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _Answer("400 Bad Request", {"error": "bad Content-Length"}) from None
    if length > MAX_WEBHOOK_BYTES:
        raise _Answer("413 Payload Too Large", {"error": "payload too large"})
    if length <= 0:
        return b""
    data: bytes = wsgi["wsgi.input"].read(length)
    return data


def _json_text(body: bytes, content_type: str) -> bytes:
    """GitHub's default content type is a form with the JSON in its `payload` field (the
    signature covers the form as sent); GitLab always sends JSON."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return body
    from urllib.parse import parse_qs

    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return (fields.get("payload") or [""])[0].encode()


def _json_object(body: bytes) -> Mapping[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Answer("400 Bad Request", {"error": "the body is not JSON"}) from None
    if not isinstance(payload, dict):
        raise _Answer("400 Bad Request", {"error": "the body is not a JSON object"})
    return payload


def _audit_forged(deps: Deps, provider: Provider, sender: str) -> None:
    what = "signature" if provider is Provider.GITHUB else "token"
    record(
        deps.store,
        clock=deps.clock,
        entry=AuditEntry(
            actor=sender,
            source=inbox.SOURCE,
            action=f"webhook:{provider.value}",
            outcome=Outcome.FORGED,
            detail=f"the {what} was missing, wrong, or no secret is set; rejected with 401",
        ),
    )
