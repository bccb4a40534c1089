"""A PagerDuty Events API v2 emulator on a localhost port (test harness only).

It follows PagerDuty's published Events API v2 reference (developer docs, "Send an
Alert Event", "Events API v2 Overview" — response codes & retry logic — and "Events API
Rate Limits"):

* `POST /v2/enqueue` with a JSON event: `routing_key` (the 32-character integration
  key), `event_action` (`trigger` / `acknowledge` / `resolve`), `dedup_key` (at most 255
  characters; required for acknowledge and resolve), and for a trigger a `payload` with
  `summary` (at most 1024 characters), `source` and `severity` (`critical`, `error`,
  `warning`, `info`) required; `links` / `images` lists of objects.
* 202 `{"status": "success", "message": "Event processed", "dedup_key": …}` (a trigger
  without a dedup_key gets a generated one).
* 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": […]}`.
  The reference shows one error's wording ("Length of 'routing_key' is incorrect (should
  be 32 characters)"), used as is; the other sentences in `errors` are ours.
* 429 past about 120 events a minute per routing key (a 60-second window looking back
  from now, on the injected clock); the reference documents no Retry-After header, so
  none is sent; its 429 example has an empty body, and so does this one.
* Alerts per (routing key, dedup_key): a trigger opens an alert, or adds a trigger log
  entry to the open one (no new alert: deduplicated); acknowledge / resolve move the
  open alert to acknowledged / resolved and are dropped when none is open; after a
  resolve, a trigger opens a new alert. Events sent with another routing key never
  touch an alert opened with a different one.

An unknown routing key is refused with 400 and `errors: ["Invalid routing key"]`: not
in the reference, but what integrations report PagerDuty answering; a stricter stand-in
than accepting any key. Test controls: `add_routing_key`, `fail_next(status, …)` (a
5xx, 429 with or without Retry-After, or a 400 body), `limit_per_minute`, and `requests`
— everything received, with the status answered.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENQUEUE_PATH = "/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_BODY = 512 * 1024  # "Events API payloads are limited to 512 KB"


def new_routing_key() -> str:
    return secrets.token_hex(16)  # 32 characters, as an integration key


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: bytes
    status: int
    answer: dict[str, Any]

    def _field(self, name: str) -> str | None:
        value = self.body.get(name) if self.body else None
        return None if value is None else str(value)

    @property
    def action(self) -> str | None:
        return self._field("event_action")

    @property
    def dedup_key(self) -> str | None:
        return self._field("dedup_key")

    @property
    def routing_key(self) -> str | None:
        return self._field("routing_key")


@dataclass
class Alert:
    routing_key: str
    dedup_key: str
    status: str  # triggered, acknowledged, resolved
    severity: str
    summary: str
    log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class PagerDutyEmulator:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.routing_keys: set[str] = set()
        self.alerts: list[Alert] = []
        self.requests: list[Received] = []
        self.limit_per_minute = 120
        self._failures: list[_Failure] = []
        self._sent_at: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                emulator._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{ENQUEUE_PATH}"

    def start(self) -> PagerDutyEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> PagerDutyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls --------------------------------------------------------

    def add_routing_key(self, key: str | None = None) -> str:
        key = key or new_routing_key()
        self.routing_keys.add(key)
        return key

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        errors: list[str] | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next `times` events with `status` (the event is not taken)."""
        if status == 400:
            body: dict[str, Any] = _invalid(errors or ["Event object is invalid"])
        elif status == 429:
            body = _throttled()
        else:
            body = {"status": "error", "message": "Internal Server Error"}
        headers = {"Retry-After": retry_after} if retry_after else {}
        with self._lock:
            self._failures += [_Failure(status, body, headers) for _ in range(times)]

    def alert(self, dedup_key: str, *, routing_key: str | None = None) -> Alert | None:
        """The newest alert with `dedup_key` (for `routing_key` when given)."""
        for alert in reversed(self.alerts):
            if alert.dedup_key == dedup_key and routing_key in (None, alert.routing_key):
                return alert
        return None

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status == 202]

    # -- the API --------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(min(length, MAX_BODY + 1))
        headers = {k: v for k, v in handler.headers.items()}
        with self._lock:
            status, answer, extra = self._answer(handler.path, headers, raw)
            body = _parse(raw)
            self.requests.append(Received(handler.path, headers, body, raw, status, answer))
        data = json.dumps(answer).encode() if answer else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if path.split("?")[0] != ENQUEUE_PATH:
            return 404, {"status": "not found", "message": "Not Found"}, {}
        if self._failures:
            failure = self._failures.pop(0)
            return failure.status, failure.body, failure.headers
        if len(raw) > MAX_BODY:
            return 400, _invalid(["Event is larger than 512 KB"]), {}
        body = _parse(raw)
        if body is None:
            return 400, _invalid(["Event is not a JSON object"]), {}
        errors = _validate(body)
        key = body.get("routing_key")
        if not errors and key not in self.routing_keys:
            errors = ["Invalid routing key"]
        if errors:
            return 400, _invalid(errors), {}
        if self._throttled(str(key)):
            return 429, _throttled(), {}
        dedup_key = str(body.get("dedup_key") or secrets.token_hex(16))
        self._apply(str(key), dedup_key, body)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, {}

    def _throttled(self, key: str) -> bool:
        now = self.clock()
        recent = [t for t in self._sent_at.get(key, []) if now - t < 60]
        if len(recent) >= self.limit_per_minute:
            self._sent_at[key] = recent
            return True
        self._sent_at[key] = [*recent, now]
        return False

    def _apply(self, key: str, dedup_key: str, body: dict[str, Any]) -> None:
        action = body["event_action"]
        open_alert = next(
            (
                a
                for a in self.alerts
                if a.routing_key == key and a.dedup_key == dedup_key and a.status != "resolved"
            ),
            None,
        )
        if action == "trigger":
            payload = body["payload"]
            if open_alert is None:
                open_alert = Alert(
                    key, dedup_key, "triggered", payload["severity"], payload["summary"]
                )
                self.alerts.append(open_alert)
            open_alert.log.append({"action": "trigger", "payload": payload})
        elif open_alert is not None:  # acknowledge / resolve of no open alert: dropped
            open_alert.status = "acknowledged" if action == "acknowledge" else "resolved"
            open_alert.log.append({"action": action})


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _invalid(errors: list[str]) -> dict[str, Any]:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def _throttled() -> dict[str, Any]:
    # The reference's 429 example has an empty body.
    return {}


def _validate(body: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != 32:  # the reference's own example of a 400
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        errors += _validate_payload(body.get("payload"))
    for name in ("links", "images"):
        items = body.get(name)
        if items is not None and (
            not isinstance(items, list) or not all(isinstance(i, dict) for i in items)
        ):
            errors.append(f"'{name}' must be a list of objects")
    for link in body.get("links") or []:
        if isinstance(link, dict) and not isinstance(link.get("href"), str):
            errors.append("a link needs an 'href'")
    return errors


def _validate_payload(payload: object) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is required to trigger"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' must be at most 1024 characters")
    source = payload.get("source")
    if not isinstance(source, str) or not source:
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | list | str):
        errors.append("'payload.custom_details' must be an object")
    return errors
